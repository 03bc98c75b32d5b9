using System.Globalization;
using System.Runtime.Versioning;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// The per-task shim (DESIGN §9): a small bash script, started by posix_spawn in its own session, that outlives the
/// agent. It runs the task's program in a process group of its own (job control, <c>set -m</c>), timestamps each line
/// of its stdout and stderr into <c>stdout.log</c> and <c>stderr.log</c>, writes <c>pid</c> ("pid start-time")
/// atomically, waits, kills what is left of the program's group (its output pipes must close), and writes
/// <c>exit</c> (the code, or 128 + the signal) atomically. The shim ignores TERM, INT and HUP, and stays outside the
/// program's group, so stopping the program never loses its exit status.
/// </summary>
/// <remarks>
/// Log line format (a contract with the log reader): <c>&lt;$EPOCHREALTIME&gt; &lt;line&gt;</c>, seconds since the
/// epoch with six decimals, one space, the raw line without its newline; a last line without a newline is written too.
/// Arguments: the task directory, the working directory, the user ("uid:gid:name", empty to keep the agent's), the
/// cgroup directories the program joins (':'-separated, empty for none), the count of extra environment entries that follow (those bash itself would act on, exported only in the program),
/// then the program and its arguments.
/// </remarks>
[UnsupportedOSPlatform("windows")]
internal static class Shim
{
    /// <summary>The shell that runs the shim; the only program the process executor assumes.</summary>
    public const string Bash = "/bin/bash";

    /// <summary>argv[0] of every shim, so that operators can find them (<c>ps -ef | grep shoal-shim</c>).</summary>
    public const string Name = "shoal-shim";

    /// <summary>The file the agent writes at start: "shim-pid shim-start-time".</summary>
    public const string ShimFile = "shim";

    /// <summary>The file the shim writes once the program runs: "pid start-time".</summary>
    public const string PidFile = "pid";

    /// <summary>The file the shim writes when the program ended: its exit code.</summary>
    public const string ExitFile = "exit";

    /// <summary>The program's standard output, one timestamped line per line.</summary>
    public const string StdoutFile = "stdout.log";

    /// <summary>The program's standard error, one timestamped line per line.</summary>
    public const string StderrFile = "stderr.log";

    /// <summary>Environment variables bash acts on when it starts; they reach the program but not the shim's bash.</summary>
    public static bool IsBashVariable(string name) =>
        name is "BASH_ENV" or "ENV" or "SHELLOPTS" or "BASHOPTS" or "CDPATH" or "GLOBIGNORE" or "IFS" or "PS4"
        || name.StartsWith("BASH_", StringComparison.Ordinal);

    /// <summary>The script, given to <c>bash -c</c>.</summary>
    public const string Script = """
        set -m
        dir=$1 workdir=$2 user=$3 cgroups=$4 extra=$5
        shift 5
        env_extra=("${@:1:extra}")
        shift "$extra"
        P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        put() { printf '%s\n' "$2" > "$dir/.$1.tmp" && PATH=$P mv -f -- "$dir/.$1.tmp" "$dir/$1"; }
        stamp() { local LC_ALL=C line; while IFS= read -r line || [[ -n $line ]]; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >> "$1"; }
        trap '' TERM INT HUP PIPE
        exec {out}> >(stamp "$dir/stdout.log")
        outpid=$!
        exec {err}> >(stamp "$dir/stderr.log")
        errpid=$!
        if ! cd -- "$workdir" 2>/dev/null; then
          printf 'shoal: cannot enter the working directory %s\n' "$workdir" >&$err
          exec {out}>&- {err}>&-
          wait $outpid $errpid
          put exit 126
          exit 0
        fi
        (
          trap - TERM INT HUP PIPE
          # The pid file is written only now, with the stop signals back at their defaults: a stop sent as soon as the
          # agent sees the pid can no longer fall in the moment the program still ignored it.
          s=; read -r s < "/proc/$BASHPID/stat" 2>/dev/null; s=${s##*) }; read -r -a f <<< "$s"
          put pid "$BASHPID ${f[19]}"
          if [[ -n $cgroups ]]; then
            IFS=: read -r -a cgs <<< "$cgroups"
            for g in "${cgs[@]}"; do
              printf '%s\n' "$BASHPID" > "$g/cgroup.procs" || { printf 'shoal: cannot join cgroup %s\n' "$g" >&2; exit 125; }
            done
          fi
          for kv in "${env_extra[@]}"; do export -- "$kv" 2>/dev/null; done
          if [[ -n $user ]]; then
            IFS=: read -r uid gid name <<< "$user"
            groups=--clear-groups
            [[ -n $name ]] && groups=--init-groups
            exec "$(PATH=$P command -v setpriv)" --reuid="$uid" --regid="$gid" "$groups" -- "$@"
          fi
          exec "$@"
        ) </dev/null >&$out 2>&$err &
        child=$!
        exec {out}>&- {err}>&-
        wait $child
        code=$?
        kill -KILL -- -$child 2>/dev/null
        wait $outpid $errpid
        put exit "$code"
        """;

    /// <summary>Reads a "pid start-time" file; null when absent or half-written.</summary>
    public static ProcessIdentity? ReadIdentity(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 1)
        {
            return null;
        }

        var start = parts.Length > 1 && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : (ulong?)null;
        return new ProcessIdentity(pid, start);
    }

    /// <summary>Reads the exit file; null when the program has not ended (or the shim has not written it yet).</summary>
    public static int? ReadExit(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}

/// <summary>
/// A process as the kernel knows it: its ID and its start time (field 22 of <c>/proc/&lt;pid&gt;/stat</c>, in clock
/// ticks since boot), so that a reused process ID is never taken for the process we started.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal readonly record struct ProcessIdentity(int Pid, ulong? StartTime)
{
    /// <summary>The identity of a live process now; null when it does not exist.</summary>
    public static ProcessIdentity? Of(int pid) => ReadStartTime(pid, out var start, out _) ? new ProcessIdentity(pid, start) : null;

    /// <summary>Whether this very process still runs (a zombie has ended: it only waits to be reaped).</summary>
    public bool IsAlive()
    {
        if (!ReadStartTime(Pid, out var start, out var state) || state == 'Z' || state == 'X')
        {
            return false;
        }

        return StartTime is null || StartTime == start;
    }

    /// <summary>Whether this very process has exited and waits to be reaped (only then may its parent reap it without
    /// risking the status of another child that reused the process ID).</summary>
    public bool IsZombie() => ReadStartTime(Pid, out var start, out var state) && state == 'Z' && (StartTime is null || StartTime == start);

    /// <summary>"pid start-time", as the identity files hold it.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Pid} {StartTime}");

    private static bool ReadStartTime(int pid, out ulong start, out char state)
    {
        start = 0;
        state = '?';
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        // "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields are counted after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        state = fields[0].Length > 0 ? fields[0][0] : '?';
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out start);
    }
}
