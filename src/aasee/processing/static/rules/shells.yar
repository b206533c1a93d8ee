/*
 * Reverse shells: a shell whose input and output are a network connection. Written for
 * AASEE from the usual one-liners (bash /dev/tcp, netcat -e, mkfifo loops, socat exec,
 * python/perl/php socket+exec).
 */

rule AASEE_Reverse_Shell_Command : shell
{
    meta:
        description = "Reverse shell one-liner: an interactive shell redirected to a TCP connection"
        author = "AASEE"
        severity = "high"
        attack = "T1059.004"
    strings:
        $bash1 = /bash\s+-i\s*[<>]&\s*\/dev\/tcp\/[^\/\s]{1,64}\/\d{1,5}/
        $bash2 = /[<>]&?\s*\/dev\/tcp\/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,5}\s+0?[<>]&\s*1/
        $bash3 = /exec\s+\d+<>\s*\/dev\/tcp\/[^\/\s]{1,64}\/\d{1,5}/
        $nc1 = /\b(nc|ncat|netcat|nc\.traditional)\s+([-\w.]+\s+){0,6}-[ec]\s*\/bin\/(ba|da)?sh\b/
        $nc2 = /mkfifo\s+\/[^\s;]{1,64}\s*;\s*[^\n]{0,80}\b(nc|ncat|netcat|telnet)\b[^\n]{0,80}\/bin\/(ba|da)?sh/
        $nc3 = /\/bin\/(ba|da)?sh\s+-i\s+[^\n]{0,40}\|\s*(nc|ncat|netcat)\s+/
        $socat = /socat\s+[^\n]{0,80}exec:['"]?(\/bin\/)?(ba|da)?sh/ nocase
        $php = /fsockopen\s*\([^)]{1,120}\)\s*;\s*[^\n]{0,40}(exec|shell_exec|system|passthru|proc_open|popen)\s*\(\s*['"]\/bin\/(ba|da)?sh/
        $perl = /socket\s*\(\s*S\s*,\s*PF_INET[^\n]{0,300}exec\s*\(?\s*['"]\/bin\/(ba|da)?sh/
        $pty = /pty\.spawn\(\s*['"]\/bin\/(ba|da)?sh['"]\s*\)/
        $pysock = /socket\.socket\s*\(/
        $dup2 = /os\.dup2\s*\(\s*\w+\.fileno\(\)\s*,\s*[012]\s*\)/
    condition:
        filesize < 10MB and (
            any of ($bash*, $nc*, $socat, $php, $perl) or
            ($pty and ($pysock or $dup2)) or
            ($pysock and #dup2 >= 2)
        )
}
