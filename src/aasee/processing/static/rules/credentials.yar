/*
 * Theft and reuse of SSH keys. Written for AASEE. The SSH client, libssh2 and libcurl all
 * name ~/.ssh/id_rsa and known_hosts, so a path alone means nothing: the rules need the keys
 * of other users (/root, /home/*), a search for keys, or a key used non-interactively to
 * reach the hosts from known_hosts, together with a way out.
 */

rule AASEE_SSH_Key_Theft : stealer
{
    meta:
        description = "Collects SSH private keys or known hosts of the machine's users and sends them out, or reuses them to spread"
        author = "AASEE"
        severity = "high"
        attack = "T1552.004"
    strings:
        $abs1 = "/root/.ssh/id_rsa"
        $abs2 = "/root/.ssh/id_ed25519"
        $abs3 = "/root/.ssh/known_hosts"
        $abs4 = /\/home\/(\*|%s|\$\w{1,16}|\$\{\w{1,16}\})\/\.ssh\// ascii
        $find = /find\s+\/\S*\s+[^\n]{0,80}-name\s+['"]?(id_rsa|id_dsa|id_ecdsa|id_ed25519|\*\.pem|authorized_keys|known_hosts)/
        $grep = /grep\s+[^\n]{0,60}-[a-zA-Z]*[rR][a-zA-Z]*\s+[^\n]{0,60}PRIVATE KEY/
        $out1 = "api.telegram.org/bot" ascii wide
        $out2 = "discord.com/api/webhooks" ascii wide
        $out3 = "discordapp.com/api/webhooks" ascii wide
        $out4 = /curl\s+[^\n]{0,160}\s(-F|--form|--data-binary|--upload-file|-T)\s/
        $out5 = "transfer.sh" ascii wide
        $out6 = "pastebin.com/api" ascii wide
        $spread1 = /ssh\s+[^\n]{0,120}-i\s+\S{0,80}(id_rsa|id_ed25519|\.pem)[^\n]{0,160}(StrictHostKeyChecking=no|BatchMode=yes)/
        $spread2 = /known_hosts[^\n]{0,120}\|\s*(awk|cut|grep|sed)\b/
    condition:
        filesize < 10MB and (
            (1 of ($abs*, $find, $grep) and 1 of ($out*)) or
            $spread1 or
            ($spread2 and 1 of ($abs*, $find))
        )
}
