/* AASEE end-to-end test program for the evidence hooks: it holds a URL only in memory.
 * The URL (MEMORY_URL in tests/e2e/test_evidence_vm.py) is stored XOR-encoded, so neither
 * the binary nor any system call ever holds it in clear: it is decoded at run time into a
 * page-aligned buffer (one physical page, so a dump of physical memory holds it whole) and
 * kept there while the process waits for the end of the run. With --screen it also writes a
 * banner on the current virtual terminal (/dev/tty0), for the screenshots of a guest with a
 * display. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "http://mem-only-7f3a9c2e.example/x" XOR 0x5a */
static const unsigned char encoded[] = {
    0x32, 0x2e, 0x2e, 0x2a, 0x60, 0x75, 0x75, 0x37, 0x3f, 0x37, 0x77, 0x35,
    0x34, 0x36, 0x23, 0x77, 0x6d, 0x3c, 0x69, 0x3b, 0x63, 0x39, 0x68, 0x3f,
    0x74, 0x3f, 0x22, 0x3b, 0x37, 0x2a, 0x36, 0x3f, 0x75, 0x22,
};

/* volatile: a buffer nothing reads back would be optimised away, stores and all. */
static volatile char url[256] __attribute__((aligned(256)));

int main(int argc, char **argv) {
    /* The key depends on argc, so the compiler cannot decode the string at build time. */
    unsigned char key = (unsigned char)(0x5a + (argc > 1000));
    size_t i;
    unsigned sum = 0;
    for (i = 0; i < sizeof encoded; i++) {
        url[i] = (char)(encoded[i] ^ key);
        sum = sum * 31 + (unsigned char)url[i];
    }
    url[i] = '\0';
    printf("decoded %zu bytes, checksum %08x\n", i, sum);
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "--screen") == 0) {
        int tty = open("/dev/tty0", O_WRONLY);
        if (tty >= 0) {
            for (int line = 0; line < 12; line++) {
                const char *banner = "\r\n#### AASEE SCREENSHOT TEST: THE SAMPLE WROTE THIS ####";
                write(tty, banner, strlen(banner));
            }
            close(tty);
        } else {
            perror("open /dev/tty0");
        }
    }
    for (;;)
        pause();
}
