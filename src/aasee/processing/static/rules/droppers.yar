/*
 * Download-and-execute droppers. Written for AASEE: a fetch whose result goes straight to a
 * shell, or is made executable and started, including the "cd /tmp || cd /var/run" preamble
 * that IoT infection scripts use to find a writable directory.
 */

rule AASEE_Download_And_Execute : dropper
{
    meta:
        description = "Downloads a payload and runs it: piped into a shell, or chmod'ed and started"
        author = "AASEE"
        severity = "medium"
        attack = "T1105"
    strings:
        $pipe1 = /\b(wget|curl)\s+[^\n|;]{0,200}\|\s*(sudo\s+)?(\/bin\/)?(ba|da)?sh\b/
        $pipe2 = /\b(wget|curl)\s+[^\n]{0,100}-O\s*-?\s+[^\n]{0,100}\|\s*(\/bin\/)?(ba|da)?sh\b/
        $run = /\b(wget|curl|tftp|ftpget)\s+[^\n]{0,200}(;|&&)\s*(\/bin\/busybox\s+)?chmod\s+(\+x|[0-7]{3,4})\s+[^\n;&]{1,100}(;|&&)\s*(\.\/|\/tmp\/|\/var\/tmp\/|\/dev\/shm\/|\/var\/run\/|%s)/
        $cd = /cd\s+\/tmp\s*(\|\||;|&&)\s*cd\s+\/var\/run/
        $bb = /busybox\s+(wget|tftp|ftpget)\s/
        $tftp = /tftp\s+(-g\s+-r|-r\s+\S+\s+-g)\s+\S+/
    condition:
        filesize < 10MB and (any of ($pipe*, $run) or ($cd and 1 of ($bb, $tftp)) or ($bb and $tftp))
}
