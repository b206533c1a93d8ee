/*
 * Packed executables. Written for AASEE; packing hides code from static analysis and is
 * rare in software shipped by a distribution.
 */
import "elf"
import "math"
import "pe"

rule AASEE_UPX_Packed_ELF : packer
{
    meta:
        description = "ELF executable packed with UPX: the UPX! loader magic right after the program headers, with its trailer or banner"
        author = "AASEE"
        severity = "medium"
        attack = "T1027.002"
    strings:
        $magic = "UPX!"
        $banner = "This file is packed with the UPX executable packer"
        $id = "$Id: UPX "
    condition:
        uint32(0) == 0x464c457f and $magic in (0..1024) and (#magic >= 2 or $banner or $id)
}

rule AASEE_UPX_Packed_PE : packer
{
    meta:
        description = "Windows executable packed with UPX (UPX0/UPX1 sections)"
        author = "AASEE"
        severity = "medium"
        attack = "T1027.002"
    condition:
        uint16(0) == 0x5a4d and pe.is_pe and
        for any section in pe.sections : (section.name == "UPX0" or section.name == "UPX1")
}

rule AASEE_Packed_ELF_Without_Sections : packer
{
    meta:
        description = "ELF executable with no section headers whose content is near-random: packed or encrypted by something other than plain UPX"
        author = "AASEE"
        severity = "low"
        attack = "T1027.002"
    condition:
        uint32(0) == 0x464c457f and filesize > 8KB and elf.number_of_sections == 0 and
        elf.number_of_segments > 0 and math.entropy(0, filesize) >= 7.2 and
        not AASEE_UPX_Packed_ELF
}
