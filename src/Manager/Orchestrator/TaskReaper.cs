using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Deletes the tasks nobody needs any more (DESIGN §8, task reaper):
/// <list type="bullet">
/// <item>a deleted service's tasks get desired REMOVE (its agents stop them);</item>
/// <item>a task with desired REMOVE is deleted once it stopped, or was never assigned, or its node is DOWN or gone;</item>
/// <item>each slot (for global services: each service and node) keeps at most
/// <c>ClusterSpec.orchestration.task_history_retention_limit</c> old tasks — desired SHUTDOWN, and stopped or on a
/// deleted node — (5 by
/// default; negative keeps all; at least max_attempts + 1 when the restart policy limits attempts, which are counted
/// from this history); the oldest beyond it are deleted.</item>
/// </list>
/// It looks only at the services, tasks and slots events touched (all of them at start, and all slots when the
/// cluster's limit changes), and commits each pass in one batch.
/// </summary>
public sealed class TaskReaper
{
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _goneServices = new(StringComparer.Ordinal);
    private readonly HashSet<string> _removing = new(StringComparer.Ordinal);
    private readonly HashSet<HistoryKey> _dirtySlots = [];

    public TaskReaper(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<TaskReaper>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(TaskReaper), store, options, time, logger);

    /// <summary>Where a task's history is counted: its service's slot, or its service's tasks on one node.</summary>
    private readonly record struct HistoryKey(string ServiceId, long Slot, string NodeId)
    {
        public static HistoryKey Of(SwarmTask task) => task.Slot > 0
            ? new HistoryKey(task.ServiceId, task.Slot, string.Empty)
            : new HistoryKey(task.ServiceId, 0, task.NodeId);
    }

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => _loop.PassesCompleted;

    /// <summary>Reaps until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes;
    /// deleting history is never urgent, so its passes wait for <see cref="OrchestratorOptions.ReaperDebounceGap"/>.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        _loop.RunAsync(Load, Apply, HasWork, Plan, _loop.Options.ReaperDebounceGap, cancellationToken);

    private void Load()
    {
        _goneServices.Clear();
        _removing.Clear();
        _dirtySlots.Clear();
        foreach (var task in _loop.Index.Tasks.Values)
        {
            Track(task);
            if (task.ServiceId.Length > 0 && !_loop.Index.Services.ContainsKey(task.ServiceId))
            {
                _goneServices.Add(task.ServiceId);
            }
        }
    }

    private bool HasWork() => _goneServices.Count > 0 || _removing.Count > 0 || _dirtySlots.Count > 0;

    private bool Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Service service when e.Kind == StoreEventKind.Delete:
                _goneServices.Add(service.Id);
                return true;
            case Service service when e.Old is Service old && !Equals(old.Spec?.Task?.Restart, service.Spec?.Task?.Restart):
                // Max attempts changed: so did the history the slots keep.
                foreach (var task in _loop.Index.TasksOf(service.Id))
                {
                    _dirtySlots.Add(HistoryKey.Of(task));
                }

                return true;
            case Cluster cluster when e.Old is not Cluster old || !Equals(old.Spec?.Orchestration, cluster.Spec?.Orchestration):
                foreach (var task in _loop.Index.Tasks.Values)
                {
                    if (task.ServiceId.Length > 0)
                    {
                        _dirtySlots.Add(HistoryKey.Of(task));
                    }
                }

                return true;
            case Node node when e.Kind == StoreEventKind.Delete || TaskFacts.IsDown(node):
                var any = false;
                foreach (var task in _loop.Index.TasksOn(node.Id))
                {
                    any |= Track(task);
                }

                return any;
            case SwarmTask task when e.Kind == StoreEventKind.Delete:
                _removing.Remove(task.Id);
                return false;
            case SwarmTask task:
                if (task.ServiceId.Length > 0 && !_loop.Index.Services.ContainsKey(task.ServiceId))
                {
                    _goneServices.Add(task.ServiceId);
                }

                return Track(task);
            default:
                return false;
        }
    }

    /// <summary>Notes a task the reaper may have to delete; true when it is one.</summary>
    private bool Track(SwarmTask task)
    {
        if (task.DesiredState >= TaskState.Remove)
        {
            _removing.Add(task.Id);
            return true;
        }

        _removing.Remove(task.Id);
        if (task.ServiceId.Length > 0 && IsHistory(task, NodeGone(task)))
        {
            _dirtySlots.Add(HistoryKey.Of(task));
            return true;
        }

        return false;
    }

    /// <summary>An old task: shut down on purpose, and stopped or on a node that was deleted (it will never report).</summary>
    private static bool IsHistory(SwarmTask task, bool nodeGone) =>
        task.DesiredState >= TaskState.Shutdown && task.DesiredState < TaskState.Remove && (TaskFacts.IsTerminal(task) || nodeGone);

    private bool NodeGone(SwarmTask task) => task.NodeId.Length > 0 && !_loop.Index.Nodes.ContainsKey(task.NodeId);

    /// <summary>A task being removed can go once it stopped, never reached a node, or its node is DOWN or gone.</summary>
    private static bool CanDelete(SwarmTask task, Node? node) =>
        task.DesiredState >= TaskState.Remove
        && (TaskFacts.IsTerminal(task) || TaskFacts.StateOf(task) < TaskState.Assigned || task.NodeId.Length == 0 || TaskFacts.IsDown(node));

    private int Plan(WritePlan plan)
    {
        var items = _goneServices.Count + _removing.Count + _dirtySlots.Count;
        foreach (var serviceId in _goneServices)
        {
            if (_loop.Index.Services.ContainsKey(serviceId))
            {
                continue;
            }

            foreach (var task in _loop.Index.TasksOf(serviceId))
            {
                plan.Raise(task, TaskState.Remove);
            }
        }

        _goneServices.Clear();
        foreach (var id in _removing)
        {
            var task = _loop.Index.Tasks[id];
            if (CanDelete(task, _loop.Index.NodeOf(task)))
            {
                plan.Delete(id, (tx, current) => CanDelete(current, current.NodeId.Length > 0 ? tx.Nodes.Get(current.NodeId) : null));
            }
        }

        // Tasks still stopping stay out of the set until an event about them or their node brings them back.
        _removing.Clear();
        var limit = _loop.Index.HistoryLimit;
        foreach (var key in _dirtySlots)
        {
            if (limit >= 0)
            {
                Trim(key, limit, plan);
            }
        }

        _dirtySlots.Clear();
        return items;
    }

    private void Trim(HistoryKey key, long limit, WritePlan plan)
    {
        var restart = _loop.Index.Services.GetValueOrDefault(key.ServiceId)?.Spec?.Task?.Restart;
        var keep = restart is { HasMaxAttempts: true, MaxAttempts: > 0 } ? Math.Max(limit, restart.MaxAttempts + 1) : limit;
        var candidates = key.Slot > 0 ? _loop.Index.TasksInSlot(key.ServiceId, key.Slot) : _loop.Index.TasksOn(key.NodeId).Where(t => t.ServiceId == key.ServiceId && t.Slot == 0);
        var history = candidates.Where(t => IsHistory(t, NodeGone(t))).ToList();
        if (history.Count <= keep)
        {
            return;
        }

        history.Sort(TaskFacts.ByAge);
        for (var i = 0; i < history.Count - keep; i++)
        {
            plan.Delete(history[i].Id, (tx, current) => IsHistory(current, current.NodeId.Length > 0 && tx.Nodes.Get(current.NodeId) is null));
        }
    }
}
