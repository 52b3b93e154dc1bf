/* Test harness only, never shipped: Wine 8's taskkill.exe has no /T ("argument T not
 * supported"), so the agent's cancel could not end a script's process tree under Wine. This
 * stand-in does what Windows' `taskkill /T /F /PID n` does: it ends n and every process
 * descended from it (found with a Toolhelp snapshot), children first. Other forms fail. */
#include <windows.h>
#include <tlhelp32.h>
#include <stdio.h>
#include <wchar.h>

static int kill_tree(DWORD pid, int depth)
{
    int killed = 0;
    if (depth > 64)
        return 0;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap != INVALID_HANDLE_VALUE) {
        PROCESSENTRY32W pe = {sizeof pe};
        DWORD children[1024];
        int n = 0;
        for (BOOL ok = Process32FirstW(snap, &pe); ok && n < 1024; ok = Process32NextW(snap, &pe))
            if (pe.th32ParentProcessID == pid && pe.th32ProcessID != pid)
                children[n++] = pe.th32ProcessID;
        CloseHandle(snap);
        for (int i = 0; i < n; i++)
            killed += kill_tree(children[i], depth + 1);
    }
    HANDLE p = OpenProcess(PROCESS_TERMINATE, FALSE, pid);
    if (p) {
        if (TerminateProcess(p, 1))
            killed++;
        CloseHandle(p);
    }
    return killed;
}

int wmain(int argc, wchar_t **argv)
{
    int tree = 0, force = 0;
    DWORD pid = 0;
    for (int i = 1; i < argc; i++) {
        if (_wcsicmp(argv[i], L"/T") == 0)
            tree = 1;
        else if (_wcsicmp(argv[i], L"/F") == 0)
            force = 1;
        else if (_wcsicmp(argv[i], L"/PID") == 0 && i + 1 < argc)
            pid = wcstoul(argv[++i], NULL, 10);
    }
    if (!tree || !force || pid == 0) {
        fwprintf(stderr, L"stand-in taskkill.exe: only /T /F /PID n is supported\n");
        return 1;
    }
    int killed = kill_tree(pid, 0);
    wprintf(L"stand-in taskkill.exe: ended %d process(es) under %lu\n", killed, pid);
    return killed > 0 ? 0 : 128;
}
