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
}
