/*
 * Cryptocurrency miners. Written for AASEE: the stratum pool protocol and the XMRig miner's
 * options and configuration keys. Node software (monerod) mines without stratum and does not
 * match.
 */

rule AASEE_Stratum_Crypto_Miner : miner
{
    meta:
        description = "Cryptocurrency miner: stratum pool URL or stratum login methods together with miner options"
        author = "AASEE"
        severity = "high"
        attack = "T1496"
    strings:
        $url1 = "stratum+tcp://" ascii wide nocase
        $url2 = "stratum+ssl://" ascii wide nocase
        $url3 = "stratum+tls://" ascii wide nocase
        $rpc1 = "mining.subscribe" ascii wide
        $rpc2 = "mining.authorize" ascii wide
        $rpc3 = "mining.notify" ascii wide
        $opt1 = "--donate-level" ascii wide
        $opt2 = "\"donate-level\"" ascii wide
        $opt3 = "cryptonight" ascii wide nocase
        $opt4 = "randomx" ascii wide nocase
        $opt5 = "nicehash" ascii wide nocase
        $opt6 = "--cpu-priority" ascii wide
        $opt7 = "\"max-cpu-usage\"" ascii wide
        $opt8 = "\"rig-id\"" ascii wide
    condition:
        (1 of ($url*) and (1 of ($opt*) or 1 of ($rpc*))) or
        2 of ($rpc*) or
        (1 of ($opt1, $opt2) and 2 of ($opt3, $opt4, $opt5, $opt6, $opt7, $opt8))
}

rule AASEE_XMRig_Miner : miner
{
    meta:
        description = "XMRig miner binary or configuration"
        author = "AASEE"
        severity = "high"
        attack = "T1496"
        family = "XMRig"
    strings:
        $name = "xmrig" ascii wide nocase
        $opt1 = "--donate-level" ascii wide
        $opt2 = "\"donate-level\"" ascii wide
        $opt3 = "\"coin\"" ascii wide
        $opt4 = "\"pools\"" ascii wide
        $opt5 = "\"randomx\"" ascii wide
    condition:
        #name >= 2 and (1 of ($opt1, $opt2) or 2 of ($opt3, $opt4, $opt5))
}
