/* AASEE end-to-end test program: every behaviour the report must show, with known values.
 * The parent writes, renames, chmods and deletes files, forks a child that daemonizes
 * (double fork + setsid) and writes its own file, tries a TCP connect to 198.51.100.7:4444,
 * and checks whether it is traced: it writes /tmp/aasee-untraced.marker only if
 * /proc/self/status says TracerPid: 0 and ptrace(PTRACE_TRACEME) succeeds. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { write(fd, text, strlen(text)); close(fd); }
}

static int tracer_pid(void) {
    char line[256]; int pid = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "TracerPid:", 10) == 0) pid = atoi(line + 10);
    fclose(f);
    return pid;
}

int main(void) {
    printf("behaviour: parent pid %d\n", getpid());
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0) _exit(0);          /* first child exits: grandchild is orphaned */
        setsid();
        char text[64];
        snprintf(text, sizeof text, "daemon %d\n", getpid());
        write_file("/tmp/aasee-daemon.txt", text);
        sleep(2);
        unlink("/tmp/aasee-daemon.txt");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    write_file("/tmp/aasee-written.txt", "written\n");
    write_file("/tmp/aasee-deleted.txt", "to be deleted\n");
    unlink("/tmp/aasee-deleted.txt");
    rename("/tmp/aasee-written.txt", "/tmp/aasee-renamed.txt");
    chmod("/tmp/aasee-renamed.txt", 0600);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(4444);
    inet_pton(AF_INET, "198.51.100.7", &addr.sin_addr);
    int rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
    printf("connect: %d\n", rc);
    close(s);

    int tpid = tracer_pid();
    long traceme = ptrace(PTRACE_TRACEME, 0, 0, 0);
    printf("TracerPid: %d, PTRACE_TRACEME: %ld\n", tpid, traceme);
    if (tpid == 0 && traceme == 0) write_file("/tmp/aasee-untraced.marker", "untraced\n");
    sleep(3);
    return 7;
}
