using System.Globalization;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Shoal.Api;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// Memory, CPU and process-count limits through cgroup v1 (<c>/sys/fs/cgroup/{memory,cpu,pids}/shoal/&lt;task-id&gt;</c>),
/// for tasks whose <c>resources.limits</c> are set. The program joins the groups before it is executed (the shim does
/// it), so it and everything it starts are limited. Where cgroup v1 is not mounted or not writable (not root, pure
/// cgroup v2), tasks run without limits and this is logged once.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed partial class CgroupLimits(string root, ILogger logger)
{
    /// <summary>The usual mount point of the cgroup hierarchies.</summary>
    public const string DefaultRoot = "/sys/fs/cgroup";

    private const string Parent = "shoal";
    private const long CfsPeriodMicroseconds = 100_000;
    private int _unavailableLogged;

    /// <summary>
    /// Creates the task's groups with its limits (again, if they exist) and returns their directories, for the program
    /// to join; none when the task has no limits or cgroups cannot be used here.
    /// </summary>
    public IReadOnlyList<string> Apply(string taskId, ResourceLimits? limits)
    {
        if (limits is null || (limits.MemoryBytes <= 0 && limits.NanoCpus <= 0 && limits.Pids <= 0))
        {
            return [];
        }

        var groups = new List<string>();
        try
        {
            if (limits.MemoryBytes > 0)
            {
                var group = Create("memory", taskId);
                Write(group, "memory.limit_in_bytes", limits.MemoryBytes);
                // Without swap accounting the file is absent; with it, the limit covers memory and swap alike.
                if (File.Exists(Path.Combine(group, "memory.memsw.limit_in_bytes")))
                {
                    Write(group, "memory.memsw.limit_in_bytes", limits.MemoryBytes);
                }

                groups.Add(group);
            }

            if (limits.NanoCpus > 0)
            {
                var group = Create("cpu", taskId);
                Write(group, "cpu.cfs_period_us", CfsPeriodMicroseconds);
                Write(group, "cpu.cfs_quota_us", Math.Max(1000, limits.NanoCpus * CfsPeriodMicroseconds / 1_000_000_000));
                groups.Add(group);
            }

            if (limits.Pids > 0)
            {
                var group = Create("pids", taskId);
                Write(group, "pids.max", limits.Pids);
                groups.Add(group);
            }

            return groups;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (Interlocked.Exchange(ref _unavailableLogged, 1) == 0)
            {
                LogUnavailable(logger, root, e.Message);
            }

            Remove(taskId);
            return [];
        }
    }

    /// <summary>Deletes the task's groups (once its processes are gone); missing groups are fine.</summary>
    public void Remove(string taskId)
    {
        foreach (var controller in new[] { "memory", "cpu", "pids" })
        {
            var group = Path.Combine(root, controller, Parent, taskId);
            try
            {
                if (Directory.Exists(group))
                {
                    Directory.Delete(group);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogRemoveFailed(logger, group, e.Message);
            }
        }
    }

    private string Create(string controller, string taskId)
    {
        var hierarchy = Path.Combine(root, controller);
        if (!File.Exists(Path.Combine(hierarchy, "cgroup.procs")) || !File.Exists(Path.Combine(hierarchy, "tasks")))
        {
            throw new IOException($"no cgroup v1 {controller} hierarchy at {hierarchy}");
        }

        var group = Path.Combine(hierarchy, Parent, taskId);
        Directory.CreateDirectory(group);
        return group;
    }

    private static void Write(string group, string file, long value) =>
        File.WriteAllText(Path.Combine(group, file), value.ToString(CultureInfo.InvariantCulture));

    [LoggerMessage(EventId = 6210, Level = LogLevel.Warning, Message = "Resource limits cannot be applied: cgroup v1 under {Root} is not usable here ({Reason}); tasks with limits run without them")]
    private static partial void LogUnavailable(ILogger logger, string root, string reason);

    [LoggerMessage(EventId = 6211, Level = LogLevel.Warning, Message = "Cgroup {Group} cannot be removed ({Reason})")]
    private static partial void LogRemoveFailed(ILogger logger, string group, string reason);
}
