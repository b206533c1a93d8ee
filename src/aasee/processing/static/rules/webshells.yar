/*
 * Web shells: server-side pages that run what a request asks. Written for AASEE.
 */

rule AASEE_PHP_Webshell : webshell
{
    meta:
        description = "PHP page that evaluates or executes request input, or evaluates an encoded blob"
        author = "AASEE"
        severity = "high"
        attack = "T1505.003"
    strings:
        $php = "<?" ascii
        $exec = /\b(eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*@?\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $decode = /\b(eval|assert)\s*\(\s*(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(/ nocase
        $call = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
        $preg = /preg_replace\s*\(\s*['"][^'"]{1,64}\/e['"]\s*,\s*\$_(GET|POST|REQUEST)/ nocase
        $backtick = /`\s*\$_(GET|POST|REQUEST)\s*\[/ nocase
    condition:
        $php and filesize < 2MB and any of ($exec, $decode, $call, $preg, $backtick)
}

rule AASEE_JSP_Webshell : webshell
{
    meta:
        description = "JSP page that runs request parameters as operating system commands"
        author = "AASEE"
        severity = "high"
        attack = "T1505.003"
    strings:
        $jsp = "<%" ascii
        $direct1 = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter/
        $direct2 = /new\s+ProcessBuilder\s*\([^;]{0,120}request\.getParameter/
        $param = "request.getParameter" ascii
        $exec = "Runtime.getRuntime().exec(" ascii
        $output = ".getInputStream()" ascii
    condition:
        $jsp and filesize < 2MB and (any of ($direct*) or ($param and $exec and $output))
}
