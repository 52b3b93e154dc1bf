/* Test harness only, never shipped: a stand-in for powershell.exe under Wine, whose own
 * powershell.exe is a stub that runs nothing. It records how the agent started it (command
 * line, environment, working folder) and runs the script body with cmd.exe, so the harness
 * can check the agent's side of running scripts: arguments, the exported variables, output
 * capture, exit codes and cancel. PowerShell itself is not covered by this.
 *
 * The record goes to %TENTACLE_STANDIN_RECORD% when set, else standin-record.txt in the
 * working folder. The script file is the argument after -File; its body (UTF-8, maybe with
 * a BOM) is copied to <file>.cmd and run as `cmd.exe /d /q /c ""<file>.cmd" "<arg>"..."` (cmd strips the outer quotes). */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

static void record(int argc, wchar_t **argv)
{
    wchar_t path[MAX_PATH * 2];
    DWORD n = GetEnvironmentVariableW(L"TENTACLE_STANDIN_RECORD", path, MAX_PATH * 2);
    if (n == 0 || n >= MAX_PATH * 2)
        wcscpy(path, L"standin-record.txt");
    FILE *f = _wfopen(path, L"w, ccs=UTF-8");
    if (!f)
        return;
    wchar_t cwd[MAX_PATH * 2];
    GetCurrentDirectoryW(MAX_PATH * 2, cwd);
    fwprintf(f, L"cwd=%ls\n", cwd);
    fwprintf(f, L"cmdline=%ls\n", GetCommandLineW());
    for (int i = 0; i < argc; i++)
        fwprintf(f, L"arg%d=%ls\n", i, argv[i]);
    wchar_t *env = GetEnvironmentStringsW();
    for (wchar_t *e = env; e && *e; e += wcslen(e) + 1)
        fwprintf(f, L"env=%ls\n", e);
    FreeEnvironmentStringsW(env);
    fclose(f);
}

int wmain(int argc, wchar_t **argv)
{
    record(argc, argv);
    int file = -1;
    for (int i = 1; i + 1 < argc; i++)
        if (_wcsicmp(argv[i], L"-File") == 0) {
            file = i + 1;
            break;
        }
    if (file < 0) {
        fwprintf(stderr, L"stand-in powershell.exe: no -File argument\n");
        return 2;
    }
    FILE *in = _wfopen(argv[file], L"rb");
    if (!in) {
        fwprintf(stderr, L"stand-in powershell.exe: cannot open %ls\n", argv[file]);
        return 2;
    }
    wchar_t batch[MAX_PATH * 2];
    _snwprintf(batch, MAX_PATH * 2, L"%ls.cmd", argv[file]);
    FILE *out = _wfopen(batch, L"wb");
    if (!out) {
        fclose(in);
        return 2;
    }
    unsigned char buf[4096];
    size_t got, total = 0;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        size_t skip = 0;
        if (total == 0 && got >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
            skip = 3;
        fwrite(buf + skip, 1, got - skip, out);
        total += got;
    }
    fclose(in);
    fclose(out);

    static wchar_t line[32768];
    int len = _snwprintf(line, 32768, L"cmd.exe /d /q /c \"\"%ls\"", batch);
    for (int i = file + 1; i < argc && len > 0 && len < 30000; i++)
        len += _snwprintf(line + len, 32768 - len, L" \"%ls\"", argv[i]);
    if (len > 0 && len < 32760)
        wcscat(line, L"\"");
    STARTUPINFOW si = {sizeof si};
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fwprintf(stderr, L"stand-in powershell.exe: cmd.exe did not start (%lu)\n", GetLastError());
        return 2;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
