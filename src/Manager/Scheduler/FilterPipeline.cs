using System.Text;
using Shoal.Api;

namespace Shoal.Manager.Scheduler;

/// <summary>The filters, in the order they run; a node is counted against the first one it fails.</summary>
internal enum FilterKind
{
    Ready,
    Resources,
    Constraints,
    Platform,
    HostPorts,
    MaxReplicas,
}

/// <summary>
/// What a group of tasks asks of a node, read once from the group's first task (every task of a group has the same
/// placement-relevant spec), and the filters that check it. Each filter has a short explanation, joined into the
/// task's error when no node passes.
/// </summary>
internal sealed class FilterPipeline
{
    private static readonly int FilterCount = Enum.GetValues<FilterKind>().Length;

    private readonly Constraint[] _constraints;
    private readonly Platform[] _platforms;
    private readonly HostPort[] _hostPorts;
    private readonly long _nanoCpus;
    private readonly long _memoryBytes;
    private readonly long _maxReplicas;
    private readonly int[] _failures = new int[FilterCount];

    private FilterPipeline(SwarmTask task, Constraint[] constraints)
    {
        ServiceId = task.ServiceId;
        _constraints = constraints;
        var placement = task.Spec?.Placement;
        _platforms = placement is null ? [] : [.. placement.Platforms];
        _maxReplicas = placement?.MaxReplicas ?? 0;
        _hostPorts = task.Endpoint is { Ports.Count: > 0 } ? [.. HostPort.Of(task)] : [];
        var reservations = task.Spec?.Resources?.Reservations;
        _nanoCpus = reservations?.NanoCpus ?? 0;
        _memoryBytes = reservations?.MemoryBytes ?? 0;
    }

    /// <summary>The service the group's tasks belong to (empty for tasks without one).</summary>
    public string ServiceId { get; }

    /// <summary>The pipeline for <paramref name="task"/>'s group, or null with the reason when its constraints do not parse.</summary>
    public static FilterPipeline? For(SwarmTask task, out string? error)
    {
        var expressions = (IReadOnlyList<string>?)task.Spec?.Placement?.Constraints ?? [];
        if (!Constraint.TryParseAll(expressions, out var constraints, out error))
        {
            return null;
        }

        return new FilterPipeline(task, constraints);
    }

    /// <summary>The first filter <paramref name="node"/> fails, or null when it can take one more task of the group.</summary>
    public FilterKind? Check(NodeInfo node)
    {
        var n = node.Node;
        if (n.Status?.State != NodeState.Ready || (n.Spec?.Availability ?? NodeAvailability.Active) != NodeAvailability.Active)
        {
            return FilterKind.Ready;
        }

        if ((_nanoCpus > 0 && node.AvailableNanoCpus < _nanoCpus) || (_memoryBytes > 0 && node.AvailableMemoryBytes < _memoryBytes))
        {
            return FilterKind.Resources;
        }

        foreach (var constraint in _constraints)
        {
            if (!constraint.Matches(n))
            {
                return FilterKind.Constraints;
            }
        }

        if (_platforms.Length > 0 && !SupportsAnyPlatform(n.Description?.Platform))
        {
            return FilterKind.Platform;
        }

        foreach (var port in _hostPorts)
        {
            if (node.UsesHostPort(port))
            {
                return FilterKind.HostPorts;
            }
        }

        if (_maxReplicas > 0 && node.ActiveTasksOf(ServiceId) >= _maxReplicas)
        {
            return FilterKind.MaxReplicas;
        }

        return null;
    }

    /// <summary>Checks <paramref name="node"/> and counts the failure, for <see cref="Explain"/>.</summary>
    public bool Process(NodeInfo node)
    {
        if (Check(node) is { } failed)
        {
            _failures[(int)failed]++;
            return false;
        }

        return true;
    }

    public void ResetCounts() => Array.Clear(_failures);

    /// <summary>Why nodes were refused, most failures first (SwarmKit's wording; empty when none was), e.g.
    /// <c>scheduling constraints not satisfied on 3 nodes; 1 node not available for new tasks</c>.</summary>
    public string Explain()
    {
        var order = Enumerable.Range(0, FilterCount).Where(i => _failures[i] > 0).OrderByDescending(i => _failures[i]).ThenBy(i => i);
        var text = new StringBuilder();
        foreach (var i in order)
        {
            if (text.Length > 0)
            {
                text.Append("; ");
            }

            text.Append(ExplainFilter((FilterKind)i, _failures[i]));
        }

        return text.ToString();
    }

    private static string ExplainFilter(FilterKind filter, int nodes)
    {
        var count = nodes == 1 ? "1 node" : $"{nodes} nodes";
        return filter switch
        {
            FilterKind.Ready => $"{count} not available for new tasks",
            FilterKind.Resources => $"insufficient resources on {count}",
            FilterKind.Constraints => $"scheduling constraints not satisfied on {count}",
            FilterKind.Platform => $"unsupported platform on {count}",
            FilterKind.HostPorts => $"host-mode port already in use on {count}",
            _ => "max replicas per node limit exceed",
        };
    }

    private bool SupportsAnyPlatform(Platform? node)
    {
        if (node is null)
        {
            return false;
        }

        foreach (var wanted in _platforms)
        {
            var osMatches = wanted.Os.Length == 0 || string.Equals(wanted.Os, node.Os, StringComparison.OrdinalIgnoreCase);
            var archMatches = wanted.Architecture.Length == 0
                || string.Equals(NormalizeArch(wanted.Architecture), NormalizeArch(node.Architecture), StringComparison.OrdinalIgnoreCase);
            if (osMatches && archMatches)
            {
                return true;
            }
        }

        return false;
    }

    private static string NormalizeArch(string arch) => arch.ToLowerInvariant() switch
    {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        var other => other,
    };
}
