/*
 * Ransom notes. Written for AASEE: the language a note uses to tell the victim that the
 * files are encrypted and how to pay for the key. Needs all three ideas together.
 */

rule AASEE_Ransom_Note_Language : ransomware
{
    meta:
        description = "Ransom note text: files encrypted, a decryption offer and a payment channel"
        author = "AASEE"
        severity = "high"
        attack = "T1486"
    strings:
        $enc1 = "files have been encrypted" ascii wide nocase
        $enc2 = "files are encrypted" ascii wide nocase
        $enc3 = "files were encrypted" ascii wide nocase
        $enc4 = "have been locked" ascii wide nocase
        $enc5 = "data has been encrypted" ascii wide nocase
        $dec1 = "decrypt your files" ascii wide nocase
        $dec2 = "decryption key" ascii wide nocase
        $dec3 = "decryption tool" ascii wide nocase
        $dec4 = "decryptor" ascii wide nocase
        $dec5 = "restore your files" ascii wide nocase
        $dec6 = "recover your files" ascii wide nocase
        $pay1 = "bitcoin" ascii wide nocase
        $pay2 = "btc wallet" ascii wide nocase
        $pay3 = "monero" ascii wide nocase
        $pay4 = ".onion" ascii wide nocase
        $pay5 = "tor browser" ascii wide nocase
        $pay6 = "ransom" ascii wide nocase
    condition:
        filesize < 20MB and 1 of ($enc*) and 1 of ($dec*) and 1 of ($pay*)
}
