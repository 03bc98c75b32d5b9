using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Manager.Reconciliation;
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
    private readonly MemoryStore _store;
    private readonly OrchestratorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly OrchestratorIndex _index = new();
    private readonly HashSet<string> _goneServices = new(StringComparer.Ordinal);
    private readonly HashSet<string> _removing = new(StringComparer.Ordinal);
    private readonly HashSet<HistoryKey> _dirtySlots = [];
    private int _passesCompleted;

    public TaskReaper(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<TaskReaper>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new OrchestratorOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Where a task's history is counted: its service's slot, or its service's tasks on one node.</summary>
    private readonly record struct HistoryKey(string ServiceId, long Slot, string NodeId)
    {
        public static HistoryKey Of(SwarmTask task) => task.Slot > 0
            ? new HistoryKey(task.ServiceId, task.Slot, string.Empty)
            : new HistoryKey(task.ServiceId, 0, task.NodeId);
    }

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => Volatile.Read(ref _passesCompleted);

    /// <summary>Reaps until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => new DebouncedWatchLoop
    {
        Filter = OrchestratorIndex.Filter,
        Load = Load,
        OnStarted = () => OrchestratorLog.Started(_logger, nameof(TaskReaper), _index.Services.Count, _index.Nodes.Count, _index.Tasks.Count),
        OnStopped = () => OrchestratorLog.Stopped(_logger, nameof(TaskReaper)),
        Apply = Apply,
        HasWork = () => _goneServices.Count > 0 || _removing.Count > 0 || _dirtySlots.Count > 0,
        PassAsync = PassAsync,
        Time = _time,
        QuietGap = _options.ReaperDebounceGap,
        MaxLatency = _options.MaxLatency < _options.ReaperDebounceGap ? _options.ReaperDebounceGap : _options.MaxLatency,
    }.RunAsync(_store, cancellationToken);

    private void Load(ReadTransaction view)
    {
        _index.Load(view);
        _goneServices.Clear();
        _removing.Clear();
        _dirtySlots.Clear();
        foreach (var task in _index.Tasks.Values)
        {
            Track(task);
            if (task.ServiceId.Length > 0 && !_index.Services.ContainsKey(task.ServiceId))
            {
                _goneServices.Add(task.ServiceId);
            }
        }
    }

    private bool Apply(StoreEvent e)
    {
        _index.Apply(e);
        switch (e.Target)
        {
            case Service service when e.Kind == StoreEventKind.Delete:
                _goneServices.Add(service.Id);
                return true;
            case Service service when e.Old is Service old && !Equals(old.Spec?.Task?.Restart, service.Spec?.Task?.Restart):
                // Max attempts changed: so did the history the slots keep.
                foreach (var task in _index.TasksOf(service.Id))
                {
                    _dirtySlots.Add(HistoryKey.Of(task));
                }

                return true;
            case Cluster cluster when e.Old is not Cluster old || !Equals(old.Spec?.Orchestration, cluster.Spec?.Orchestration):
                foreach (var task in _index.Tasks.Values)
                {
                    if (task.ServiceId.Length > 0)
                    {
                        _dirtySlots.Add(HistoryKey.Of(task));
                    }
                }

                return true;
            case Node node when e.Kind == StoreEventKind.Delete || TaskFacts.IsDown(node):
                var any = false;
                foreach (var task in _index.TasksOn(node.Id))
                {
                    any |= Track(task);
                }

                return any;
            case SwarmTask task when e.Kind == StoreEventKind.Delete:
                _removing.Remove(task.Id);
                return false;
            case SwarmTask task:
                if (task.ServiceId.Length > 0 && !_index.Services.ContainsKey(task.ServiceId))
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

    private bool NodeGone(SwarmTask task) => task.NodeId.Length > 0 && !_index.Nodes.ContainsKey(task.NodeId);

    /// <summary>A task being removed can go once it stopped, never reached a node, or its node is DOWN or gone.</summary>
    private static bool CanDelete(SwarmTask task, Node? node) =>
        task.DesiredState >= TaskState.Remove
        && (TaskFacts.IsTerminal(task) || TaskFacts.StateOf(task) < TaskState.Assigned || task.NodeId.Length == 0 || TaskFacts.IsDown(node));

    private async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        var plan = new WritePlan();
        var items = _goneServices.Count + _removing.Count + _dirtySlots.Count;
        foreach (var serviceId in _goneServices)
        {
            if (_index.Services.ContainsKey(serviceId))
            {
                continue;
            }

            foreach (var task in _index.TasksOf(serviceId))
            {
                plan.Raise(task, TaskState.Remove);
            }
        }

        _goneServices.Clear();
        foreach (var id in _removing)
        {
            var task = _index.Tasks[id];
            if (CanDelete(task, _index.NodeOf(task)))
            {
                plan.Delete(id, (tx, current) => CanDelete(current, current.NodeId.Length > 0 ? tx.Nodes.Get(current.NodeId) : null));
            }
        }

        // Tasks still stopping stay out of the set until an event about them or their node brings them back.
        _removing.Clear();
        var limit = _index.HistoryLimit;
        foreach (var key in _dirtySlots)
        {
            if (limit >= 0)
            {
                Trim(key, limit, plan);
            }
        }

        _dirtySlots.Clear();
        var commits = await plan.CommitAsync(_store, cancellationToken);
        OrchestratorLog.Pass(_logger, nameof(TaskReaper), items, plan.Created, plan.Raised, plan.Deleted, commits);
        Interlocked.Increment(ref _passesCompleted);
        return false;
    }

    private void Trim(HistoryKey key, long limit, WritePlan plan)
    {
        var restart = _index.Services.GetValueOrDefault(key.ServiceId)?.Spec?.Task?.Restart;
        var keep = restart is { HasMaxAttempts: true, MaxAttempts: > 0 } ? Math.Max(limit, restart.MaxAttempts + 1) : limit;
        var candidates = key.Slot > 0 ? _index.TasksInSlot(key.ServiceId, key.Slot) : _index.TasksOn(key.NodeId).Where(t => t.ServiceId == key.ServiceId && t.Slot == 0);
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
