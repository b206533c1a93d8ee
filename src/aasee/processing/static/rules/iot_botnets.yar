/*
 * IoT botnets of the Mirai and Gafgyt (Bashlite) lines. Written for AASEE from the behaviour
 * these families are known for: disabling the watchdog so the device does not reboot,
 * probing for busybox, brute-forcing telnet with factory credentials, and IRC-style flood
 * commands. Each rule needs several of these together, so busybox itself (which has a
 * watchdog applet) does not match.
 */

rule AASEE_Mirai_Like_IoT_Bot : botnet iot
{
    meta:
        description = "IoT bot in the Mirai mould: watchdog disabling, busybox probing, a telnet factory-credential list or its HTTP flood paths"
        author = "AASEE"
        severity = "high"
        attack = "T1110.001"
        family = "Mirai"
    strings:
        $wd1 = "/dev/watchdog"
        $wd2 = "/dev/misc/watchdog"
        $bb1 = /\/bin\/busybox [A-Z0-9]{4,12}[^A-Za-z0-9]/
        $bb2 = ": applet not found"
        $cred1 = "xc3511"
        $cred2 = "vizxv"
        $cred3 = "xmhdipc"
        $cred4 = "juantech"
        $cred5 = "7ujMko0"
        $cred6 = "Zte521"
        $cred7 = "hi3518"
        $cred8 = "klv123"
        $cred9 = "jvbzd"
        $cred10 = "smcadmin"
        $cred11 = "ikwb"
        $cred12 = "dreambox"
        $http1 = "POST /cdn-cgi/"
        $http2 = "/cdn-cgi/l/chk_captcha"
        $scan = "TSource Engine Query"
        $proc = "/proc/net/tcp"
        $login = "ncorrect"
    condition:
        uint32(0) == 0x464c457f and filesize < 10MB and (
            (1 of ($wd*) and 1 of ($bb*) and 2 of ($cred*)) or
            (4 of ($cred*) and 1 of ($wd*, $bb*, $login)) or
            (1 of ($http*) and 1 of ($wd*, $bb1)) or
            ($scan and 1 of ($wd*) and $proc)
        )
}

rule AASEE_Gafgyt_Like_IoT_Bot : botnet iot
{
    meta:
        description = "IoT bot in the Gafgyt/Bashlite mould: IRC-style scanner and flood commands"
        author = "AASEE"
        severity = "high"
        attack = "T1498"
        family = "Gafgyt"
    strings:
        $cmd1 = "KILLATTK"
        $cmd2 = "LOLNOGTFO"
        $cmd3 = "GETLOCALIP"
        $cmd4 = "SCANNER ON"
        $cmd5 = "SCANNER OFF"
        $cmd6 = "HTTPFLOOD"
        $cmd7 = "UDPRAW"
        $cmd8 = "BOTKILL"
        $cmd9 = "GTFOFAG"
        $cmd10 = "PONG!"
        $msg1 = "Flooding %s"
        $msg2 = "Failed opening raw socket."
        $msg3 = "My IP: %s"
        $msg4 = "BUILD %s"
        $drop = "cd /tmp || cd /var/run || cd /mnt"
    condition:
        uint32(0) == 0x464c457f and filesize < 10MB and (
            3 of ($cmd*) or
            (2 of ($cmd*) and 1 of ($msg*, $drop)) or
            (2 of ($msg*) and $drop)
        )
}
