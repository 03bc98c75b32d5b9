using System.Runtime.Versioning;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// Ends the task processes a node's data directory names, for tools that run nodes and must leave nothing behind
/// (the demo, benchmarks, tests): process tasks outlive their agent by design (DESIGN §9), so a node killed with
/// SIGKILL leaves its tasks running under their shims until an agent on that data directory takes them over.
/// </summary>
[UnsupportedOSPlatform("windows")]
public static class LeftoverTasks
{
    /// <summary>
    /// Sends SIGKILL to every task's process group and shim recorded under <c>&lt;data-dir&gt;/tasks</c> (each checked
    /// by pid and start time, so a reused process ID is never hit); <paramref name="dataDirectory"/> may also be a
    /// directory holding several nodes' data directories. Returns how many processes were signalled.
    /// </summary>
    public static int KillAll(string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        if (!Directory.Exists(dataDirectory))
        {
            return 0;
        }

        var killed = 0;
        foreach (var tasks in Directory.EnumerateDirectories(dataDirectory, "tasks", SearchOption.AllDirectories))
        {
            foreach (var task in Directory.EnumerateDirectories(tasks))
            {
                if (Shim.ReadIdentity(Path.Combine(task, Shim.PidFile)) is { } child && child.IsAlive() && Native.KillGroup(child.Pid, Native.SigKill))
                {
                    killed++;
                }

                if (Shim.ReadIdentity(Path.Combine(task, Shim.ShimFile)) is { } shim && shim.IsAlive() && Native.KillProcess(shim.Pid, Native.SigKill))
                {
                    killed++;
                }
            }
        }

        return killed;
    }

    /// <summary>
    /// The program of the task whose directory is <paramref name="taskDirectory"/> (<c>&lt;data-dir&gt;/tasks/&lt;id&gt;</c>)
    /// as its <c>pid</c> file names it — the process ID and its start time, which tells a reused ID apart — or null
    /// while there is no complete file.
    /// </summary>
    public static (int Pid, ulong? StartTime)? ProgramOf(string taskDirectory) =>
        Shim.ReadIdentity(Path.Combine(taskDirectory, Shim.PidFile)) is { } identity ? (identity.Pid, identity.StartTime) : null;

    /// <summary>Whether the process <paramref name="pid"/> that started at <paramref name="startTime"/> (any, when null)
    /// still runs; a zombie has ended.</summary>
    public static bool IsAlive(int pid, ulong? startTime) => new ProcessIdentity(pid, startTime).IsAlive();
}
