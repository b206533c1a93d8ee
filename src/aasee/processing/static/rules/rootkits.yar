/*
 * Linux rootkits. Written for AASEE. A user-space rootkit is a shared object loaded into
 * every process through /etc/ld.so.preload that wraps libc calls (looked up with dlsym) to
 * hide files, processes and connections; a kernel rootkit is a module that reaches the
 * system call table or the kernel's symbol lookup to hook directory listing.
 */
import "elf"

rule AASEE_LD_PRELOAD_Rootkit : rootkit
{
    meta:
        description = "Shared object that wraps libc directory and file calls through dlsym and installs or hides behind /etc/ld.so.preload or /proc"
        author = "AASEE"
        severity = "high"
        attack = "T1574.006"
    strings:
        $preload = "/etc/ld.so.preload"
        $dlsym = "dlsym" fullword
        $hook1 = "readdir64" fullword
        $hook2 = "readdir" fullword
        $hook3 = "__lxstat" fullword
        $hook4 = "__xstat" fullword
        $hook5 = "fopen64" fullword
        $hook6 = "unlinkat" fullword
        $hide1 = "/proc/self/fd/%d"
        $hide2 = "/proc/%s/stat" fullword
        $hide3 = "%d (%[^)]s"
        $hide4 = "/proc/net/tcp"
    condition:
        // A shared library: ET_DYN without a program interpreter (PIE executables have one).
        uint32(0) == 0x464c457f and elf.type == elf.ET_DYN and filesize < 5MB and
        not for any segment in elf.segments : (segment.type == elf.PT_INTERP) and $dlsym and (
            ($preload and 2 of ($hook*)) or
            (2 of ($hide*) and 1 of ($hook1, $hook2))
        )
}

rule AASEE_Linux_Kernel_Rootkit : rootkit
{
    meta:
        description = "Kernel module that looks up the system call table or kernel symbols and hooks directory listing or connection tables"
        author = "AASEE"
        severity = "critical"
        attack = "T1014"
    strings:
        $modinfo = "vermagic="
        $table1 = "sys_call_table"
        $table2 = "kallsyms_lookup_name"
        $hook1 = "getdents64"
        $hook2 = "getdents"
        $hook3 = "filldir"
        $hook4 = "tcp4_seq_show"
        $hook5 = "__x64_sys_kill"
        $hide = "hide" nocase
    condition:
        uint32(0) == 0x464c457f and uint16(16) == 1 and $modinfo and 1 of ($table*) and
        2 of ($hook*) and $hide
}
