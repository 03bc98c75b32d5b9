using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Manager.Reconciliation;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Shuts down (desired SHUTDOWN) the tasks on a node that no longer satisfies their placement constraints — its
/// labels, role or platform changed (DESIGN §8). The orchestrators then replace them where the constraints hold:
/// the replicated orchestrator in the same slot elsewhere, the global one not at all. It looks only at the nodes
/// an event changed (all of them at start), and commits each pass in one batch.
/// </summary>
public sealed class ConstraintEnforcer
{
    private readonly MemoryStore _store;
    private readonly OrchestratorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly OrchestratorIndex _index = new();
    private readonly HashSet<string> _dirtyNodes = new(StringComparer.Ordinal);
    private int _passesCompleted;

    public ConstraintEnforcer(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<ConstraintEnforcer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new OrchestratorOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => Volatile.Read(ref _passesCompleted);

    /// <summary>Enforces until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => new DebouncedWatchLoop
    {
        Filter = OrchestratorIndex.Filter,
        Load = Load,
        OnStarted = () => OrchestratorLog.Started(_logger, nameof(ConstraintEnforcer), _index.Services.Count, _index.Nodes.Count, _index.Tasks.Count),
        OnStopped = () => OrchestratorLog.Stopped(_logger, nameof(ConstraintEnforcer)),
        Apply = Apply,
        HasWork = () => _dirtyNodes.Count > 0,
        PassAsync = PassAsync,
        Time = _time,
        QuietGap = _options.CommitDebounceGap,
        MaxLatency = _options.MaxLatency,
    }.RunAsync(_store, cancellationToken);

    private void Load(ReadTransaction view)
    {
        _index.Load(view);
        _dirtyNodes.Clear();
        _dirtyNodes.UnionWith(_index.Nodes.Keys);
    }

    private bool Apply(StoreEvent e)
    {
        _index.Apply(e);
        if (e.Target is Node node && e.Kind == StoreEventKind.Update && e.Old is Node old && PlacementChanged(old, node))
        {
            _dirtyNodes.Add(node.Id);
            return true;
        }

        return false;
    }

    /// <summary>What constraints read: labels (node and engine), role, hostname, platform.</summary>
    private static bool PlacementChanged(Node old, Node node) =>
        old.Role != node.Role || !Equals(old.Spec?.Annotations, node.Spec?.Annotations)
        || !Equals(old.Description?.Engine, node.Description?.Engine) || !Equals(old.Description?.Platform, node.Description?.Platform)
        || old.Description?.Hostname != node.Description?.Hostname;

    private async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        var plan = new WritePlan();
        var nodes = _dirtyNodes.Count;
        foreach (var nodeId in _dirtyNodes)
        {
            if (!_index.Nodes.TryGetValue(nodeId, out var node))
            {
                continue;
            }

            foreach (var task in _index.TasksOn(nodeId))
            {
                if (task.ServiceId.Length > 0 && TaskFacts.IsActive(task) && !TaskRules.SatisfiesConstraints(task.Spec, node))
                {
                    plan.Raise(task, TaskState.Shutdown);
                }
            }
        }

        _dirtyNodes.Clear();
        var commits = await plan.CommitAsync(_store, cancellationToken);
        OrchestratorLog.Pass(_logger, nameof(ConstraintEnforcer), nodes, plan.Created, plan.Raised, plan.Deleted, commits);
        Interlocked.Increment(ref _passesCompleted);
        return false;
    }
}
