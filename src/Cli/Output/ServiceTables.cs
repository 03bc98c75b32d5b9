using System.Globalization;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Output;

/// <summary>
/// The tables of <c>service ls</c> and <c>service ps</c>, cell for cell as the docker CLI's formatters fill them
/// (reference/docker-api-subset.md §5).
/// </summary>
internal static class ServiceTables
{
    private const int MaxErrorLength = 30;

    /// <summary>The rows of <c>service ls</c> (header first), sorted by name.</summary>
    public static List<string[]> ServiceRows(IEnumerable<Service> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        List<string[]> rows = [["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]];
        rows.AddRange(services
            .OrderBy(s => s.Spec.Name ?? string.Empty, DockerFormat.NaturalOrder)
            .Select(s => new[]
            {
                TruncateId(s.ID),
                s.Spec.Name ?? string.Empty,
                ModeOf(s.Spec.Mode),
                Replicas(s),
                StripDigest(s.Spec.TaskTemplate.ContainerSpec?.Image),
                Ports(s.Endpoint.Ports?.Where(p => p.PublishMode is null or "ingress")),
            }));
        return rows;
    }

    /// <summary>The MODE column: <c>replicated</c>, <c>global</c>, <c>replicated job</c>, <c>global job</c>.</summary>
    public static string ModeOf(ServiceMode mode)
    {
        ArgumentNullException.ThrowIfNull(mode);
        return mode.Replicated is not null ? "replicated"
            : mode.Global is not null ? "global"
            : mode.ReplicatedJob is not null ? "replicated job"
            : mode.GlobalJob is not null ? "global job"
            : string.Empty;
    }

    /// <summary>
    /// The REPLICAS column: running/desired; jobs add their completions (<c>1/2 (3/5 completed)</c>), a replicated
    /// service with a per-node cap adds it (<c>2/3 (max 1 per node)</c>).
    /// </summary>
    public static string Replicas(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var status = service.ServiceStatus ?? new ServiceStatus();
        var mode = service.Spec.Mode;
        var counts = string.Create(CultureInfo.InvariantCulture, $"{status.RunningTasks}/{status.DesiredTasks}");
        if (mode.ReplicatedJob is { } job)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{counts} ({status.CompletedTasks}/{job.TotalCompletions ?? 0} completed)");
        }

        if (mode.GlobalJob is not null)
        {
            // The tasks still to complete plus those completed: the whole job.
            return string.Create(CultureInfo.InvariantCulture, $"{counts} ({status.CompletedTasks}/{status.DesiredTasks + status.CompletedTasks} completed)");
        }

        var maxReplicas = service.Spec.TaskTemplate.Placement?.MaxReplicas ?? 0;
        return mode.Replicated is not null && maxReplicas > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{counts} (max {maxReplicas} per node)")
            : counts;
    }

    /// <summary>
    /// The PORTS column: <c>*:8080-&gt;80/tcp</c>, consecutive ports of one protocol merged into ranges
    /// (<c>*:8080-8081-&gt;80-81/tcp</c>).
    /// </summary>
    public static string Ports(IEnumerable<PortConfig>? ports)
    {
        if (ports is null)
        {
            return string.Empty;
        }

        var sorted = ports
            .OrderBy(p => p.Protocol ?? "tcp", StringComparer.Ordinal)
            .ThenBy(p => p.PublishedPort)
            .ThenBy(p => p.TargetPort)
            .ToList();
        var groups = new List<(string Protocol, uint PublishedStart, uint PublishedEnd, uint TargetStart, uint TargetEnd)>();
        foreach (var port in sorted)
        {
            var protocol = port.Protocol ?? "tcp";
            if (groups.Count > 0)
            {
                var last = groups[^1];
                if (last.Protocol == protocol && last.PublishedEnd + 1 == port.PublishedPort && last.TargetEnd + 1 == port.TargetPort)
                {
                    groups[^1] = last with { PublishedEnd = port.PublishedPort, TargetEnd = port.TargetPort };
                    continue;
                }
            }

            groups.Add((protocol, port.PublishedPort, port.PublishedPort, port.TargetPort, port.TargetPort));
        }

        return string.Join(", ", groups.Select(g => string.Create(
            CultureInfo.InvariantCulture,
            $"*:{Range(g.PublishedStart, g.PublishedEnd)}->{Range(g.TargetStart, g.TargetEnd)}/{g.Protocol}")));
    }

    /// <summary>
    /// The rows of <c>service ps</c> (header first): tasks named <c>service.slot</c> (or <c>service.node</c> for
    /// global ones), sorted by name, the newest first within one name; the older tasks of a slot are its history,
    /// shown as <c> \_ name</c> rows.
    /// </summary>
    /// <param name="tasks">The tasks to show.</param>
    /// <param name="serviceName">The name of a service, by ID.</param>
    /// <param name="nodeName">The name of a node, by ID.</param>
    /// <param name="now">The time ages are counted to.</param>
    /// <param name="noTrunc">Whether IDs, images and errors are shown whole.</param>
    public static List<string[]> TaskRows(IEnumerable<SwarmTask> tasks, Func<string, string> serviceName, Func<string, string> nodeName, DateTimeOffset now, bool noTrunc)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(serviceName);
        ArgumentNullException.ThrowIfNull(nodeName);
        List<string[]> rows = [["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]];
        string? previous = null;
        foreach (var (task, name) in Sorted(tasks, serviceName))
        {
            var shown = name == previous ? @" \_ " + name : name;
            previous = name;
            rows.Add(
            [
                noTrunc ? task.ID : TruncateId(task.ID),
                shown,
                noTrunc ? task.Spec.ContainerSpec?.Image ?? string.Empty : StripDigest(task.Spec.ContainerSpec?.Image),
                string.IsNullOrEmpty(task.NodeID) ? string.Empty : nodeName(task.NodeID),
                DockerFormat.Capitalize(task.DesiredState),
                CurrentState(task.Status, now),
                Error(task.Status.Err, noTrunc),
                Ports(task.Status.PortStatus.Ports),
            ]);
        }

        return rows;
    }

    /// <summary>The tasks in <c>service ps</c> order, each with its display name.</summary>
    public static IEnumerable<(SwarmTask Task, string Name)> Sorted(IEnumerable<SwarmTask> tasks, Func<string, string> serviceName)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(serviceName);
        return tasks
            .Select(t => (Task: t, Name: NameOf(t, serviceName(t.ServiceID ?? string.Empty))))
            .OrderBy(p => p.Name, DockerFormat.NaturalOrder)
            .ThenByDescending(p => p.Task.CreatedAt ?? DateTimeOffset.MinValue);
    }

    /// <summary>A task's name in tables: <c>service.slot</c>, or <c>service.nodeID</c> for a task without a slot.</summary>
    public static string NameOf(SwarmTask task, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.Slot != 0
            ? string.Create(CultureInfo.InvariantCulture, $"{serviceName}.{task.Slot}")
            : $"{serviceName}.{task.NodeID}";
    }

    /// <summary>The CURRENT STATE column: <c>Running 39 seconds ago</c>.</summary>
    public static string CurrentState(SwarmTaskStatus status, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(status);
        var state = DockerFormat.Capitalize(status.State);
        return status.Timestamp is { } timestamp
            ? $"{state} {HumanDuration(now - timestamp).ToLowerInvariant()} ago"
            : state;
    }

    /// <summary>go-units' <c>HumanDuration</c>: <c>Less than a second</c>, <c>39 seconds</c>, <c>About a minute</c>, <c>3 hours</c>, <c>2 weeks</c>.</summary>
    public static string HumanDuration(TimeSpan duration)
    {
        var seconds = (long)duration.TotalSeconds;
        var minutes = (long)duration.TotalMinutes;
        var hours = (long)(duration.TotalHours + 0.5);
        return seconds < 1 ? "Less than a second"
            : seconds == 1 ? "1 second"
            : seconds < 60 ? Invariant($"{seconds} seconds")
            : minutes == 1 ? "About a minute"
            : minutes < 60 ? Invariant($"{minutes} minutes")
            : hours == 1 ? "About an hour"
            : hours < 48 ? Invariant($"{hours} hours")
            : hours < 24 * 7 * 2 ? Invariant($"{hours / 24} days")
            : hours < 24 * 30 * 2 ? Invariant($"{hours / 24 / 7} weeks")
            : hours < 24 * 365 * 2 ? Invariant($"{hours / 24 / 30} months")
            : Invariant($"{(long)duration.TotalHours / 24 / 365} years");
    }

    /// <summary>An ID as tables show it: its first 12 characters.</summary>
    public static string TruncateId(string id) => id.Length > 12 ? id[..12] : id;

    /// <summary>An image without its pinned digest (<c>nginx:1.27@sha256:…</c> → <c>nginx:1.27</c>).</summary>
    public static string StripDigest(string? image)
    {
        if (string.IsNullOrEmpty(image))
        {
            return string.Empty;
        }

        var at = image.IndexOf('@', StringComparison.Ordinal);
        return at < 0 ? image : image[..at];
    }

    private static string Error(string? error, bool noTrunc)
    {
        if (string.IsNullOrEmpty(error))
        {
            return string.Empty;
        }

        // docker's Ellipsis: at most 30 runes, the last one an ellipsis.
        var runes = error.EnumerateRunes().ToList();
        var text = noTrunc || runes.Count <= MaxErrorLength
            ? error
            : string.Concat(runes.Take(MaxErrorLength - 1).Select(r => r.ToString())) + "…";
        return $"\"{text}\"";
    }

    private static string Range(uint start, uint end) =>
        start == end ? start.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{start}-{end}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
