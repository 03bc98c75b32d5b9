using System.CommandLine;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// The flags of <c>swarm init</c> and <c>swarm update</c> that set the cluster-wide spec (docker's
/// <c>swarmOptions</c>). A flag changes its field only when given: the rest of the spec travels back unchanged.
/// </summary>
internal sealed class SwarmSpecFlags
{
    private readonly Option<long?> _taskHistoryLimit = Flags.Integer<long>("--task-history-limit", "Task history retention limit: ended tasks kept per slot (default 5)");
    private readonly Option<long?> _dispatcherHeartbeat = Flags.Duration("--dispatcher-heartbeat", "Dispatcher heartbeat period: how often nodes report to the managers (ns|us|ms|s|m|h; default 5s)");
    private readonly Option<long?> _certExpiry = Flags.Duration("--cert-expiry", "Validity period of node certificates (ns|us|ms|s|m|h; default 2160h0m0s)");
    private readonly Option<ulong?> _maxSnapshots = Flags.Integer<ulong>("--max-snapshots", "Number of additional Raft snapshots to retain (default 0)");
    private readonly Option<ulong?> _snapshotInterval = Flags.Integer<ulong>("--snapshot-interval", "Number of Raft log entries between snapshots (default 10000)");

    private Option[] All => [_taskHistoryLimit, _dispatcherHeartbeat, _certExpiry, _maxSnapshots, _snapshotInterval];

    /// <summary>The flags' names, for messages.</summary>
    public string Names => string.Join(", ", All.Select(option => option.Name));

    /// <summary>Adds the flags to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Whether any of the flags was given.</summary>
    public bool AnyGiven(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return All.Any(option => parse.GetResult(option) is not null);
    }

    /// <summary>Sets the fields of <paramref name="spec"/> whose flags were given; returns it.</summary>
    public Spec MergeInto(Spec spec, ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parse);
        if (parse.GetValue(_taskHistoryLimit) is { } limit)
        {
            spec.Orchestration.TaskHistoryRetentionLimit = limit;
        }

        if (parse.GetValue(_dispatcherHeartbeat) is { } heartbeat)
        {
            spec.Dispatcher.HeartbeatPeriod = heartbeat;
        }

        if (parse.GetValue(_certExpiry) is { } expiry)
        {
            spec.CAConfig.NodeCertExpiry = expiry;
        }

        if (parse.GetValue(_maxSnapshots) is { } snapshots)
        {
            spec.Raft.KeepOldSnapshots = snapshots;
        }

        if (parse.GetValue(_snapshotInterval) is { } interval)
        {
            spec.Raft.SnapshotInterval = interval;
        }

        return spec;
    }
}
