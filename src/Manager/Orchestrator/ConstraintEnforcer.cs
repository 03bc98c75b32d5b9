using Microsoft.Extensions.Logging;
using Shoal.Api;
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
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _dirtyNodes = new(StringComparer.Ordinal);

    public ConstraintEnforcer(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<ConstraintEnforcer>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(ConstraintEnforcer), store, options, time, logger);

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => _loop.PassesCompleted;

    /// <summary>Enforces until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        _loop.RunAsync(Load, Apply, HasWork, Plan, _loop.Options.CommitDebounceGap, cancellationToken);

    private void Load()
    {
        _dirtyNodes.Clear();
        _dirtyNodes.UnionWith(_loop.Index.Nodes.Keys);
    }

    private bool HasWork() => _dirtyNodes.Count > 0;

    private bool Apply(StoreEvent e)
    {
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

    private int Plan(WritePlan plan)
    {
        var nodes = _dirtyNodes.Count;
        foreach (var nodeId in _dirtyNodes)
        {
            if (!_loop.Index.Nodes.TryGetValue(nodeId, out var node))
            {
                continue;
            }

            foreach (var task in _loop.Index.TasksOn(nodeId))
            {
                if (task.ServiceId.Length > 0 && TaskFacts.IsActive(task) && !TaskRules.SatisfiesConstraints(task.Spec, node))
                {
                    plan.Raise(task, TaskState.Shutdown);
                }
            }
        }

        _dirtyNodes.Clear();
        return nodes;
    }
}
