using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Store;

using Shoal.Manager.Reconciliation;

namespace Shoal.Manager.Scheduler;

/// <summary>
/// Assigns PENDING tasks to nodes (DESIGN §8), on the leader only. It reads the store once, from a
/// <see cref="MemoryStore.ViewAndWatch"/> snapshot, into its own per-node index (<see cref="NodeInfo"/>) and keeps that
/// index current from watch events; a pass therefore costs what the tasks to place cost, never a rescan of the store.
/// Passes are debounced (a quiet gap after the last relevant commit, capped by a maximum latency). A pass groups the
/// pending tasks by (service, spec version) — tasks without a service by their placement-relevant spec — runs the
/// filters over the nodes once per group, picks a node per task from a priority queue, and commits the decisions
/// through <see cref="MemoryStore.BatchAsync"/>: PENDING → ASSIGNED, or an explanation in <c>status.err</c>. Tasks
/// already bound to a node (global services) are only checked against that node.
/// </summary>
public sealed partial class Scheduler
{
    /// <summary>The status message of a task the scheduler assigned (SwarmKit's wording).</summary>
    public const string AssignedMessage = "scheduler assigned task to node";

    private readonly MemoryStore _store;
    private readonly SchedulerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, NodeInfo> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _taskNodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SwarmTask> _unassigned = new(StringComparer.Ordinal);
    private int _passesStarted;
    private int _relevantCommits;
    private int _passesCompleted;
    private long _lastSummary = long.MinValue;
    private int _assignedSinceSummary;
    private int _passesSinceSummary;

    public Scheduler(MemoryStore store, SchedulerOptions? options = null, TimeProvider? time = null, ILogger<Scheduler>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new SchedulerOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Passes started so far (tests wait on these counts).</summary>
    internal int PassesStarted => Volatile.Read(ref _passesStarted);

    /// <summary>Commits seen that may let a pending task be placed (each restarts the quiet gap).</summary>
    internal int RelevantCommits => Volatile.Read(ref _relevantCommits);

    /// <summary>Passes whose decisions are committed.</summary>
    internal int PassesCompleted => Volatile.Read(ref _passesCompleted);

    /// <summary>Task groups of the last pass (tests check that identical one-off tasks share one).</summary>
    internal int LastPassGroups { get; private set; }

    /// <summary>Test seam: runs after a pass decided and before it commits, to change the store in between.</summary>
    internal Func<CancellationToken, ValueTask>? BeforeCommitAsync { get; set; }

    /// <summary>Schedules until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.</summary>
    /// <remarks>Tasks found pending at start are scheduled at once; later ones after the debounce. A pass whose
    /// decisions conflicted (their tasks queued again) asks for another pass after the gap.</remarks>
    public Task RunAsync(CancellationToken cancellationToken) => new DebouncedWatchLoop
    {
        Filter = StoreEventFilters.Any(StoreEventFilters.Of<Node>(), StoreEventFilters.Of<SwarmTask>()),
        Load = Load,
        OnStarted = () => LogStarted(_logger, _nodes.Count, _unassigned.Count),
        OnStopped = () => LogStopped(_logger),
        Apply = Apply,
        HasWork = () => _unassigned.Count > 0,
        PassAsync = PassAsync,
        OnRelevantCommit = () => Interlocked.Increment(ref _relevantCommits),
        Time = _time,
        QuietGap = _options.CommitDebounceGap,
        MaxLatency = _options.MaxLatency,
    }.RunAsync(_store, cancellationToken);

    /// <summary>A task the scheduler must decide on: PENDING (the allocator is done with it) and still meant to run.
    /// Without a node it needs one; with a node (global services bind their tasks when they create them) the scheduler
    /// checks that node can take it, then moves it to ASSIGNED.</summary>
    private static bool IsWaiting(SwarmTask task) =>
        task.Status?.State == TaskState.Pending && task.DesiredState <= TaskState.Running;

    private void Load(ReadTransaction view)
    {
        _nodes.Clear();
        _taskNodes.Clear();
        _unassigned.Clear();
        foreach (var node in view.Nodes.All())
        {
            _nodes[node.Id] = new NodeInfo(node);
        }

        foreach (var task in view.Tasks.All())
        {
            TrackTask(task);
        }
    }

    /// <summary>Applies one store event to the index; true when it may let a pending task be placed.</summary>
    private bool Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Node node when e.Kind == StoreEventKind.Delete:
                if (_nodes.Remove(node.Id, out var gone))
                {
                    foreach (var taskId in gone.Tasks.Keys)
                    {
                        _taskNodes.Remove(taskId);
                    }
                }

                return false;
            case Node node:
                if (_nodes.TryGetValue(node.Id, out var info))
                {
                    info.Node = node;
                }
                else
                {
                    _nodes[node.Id] = new NodeInfo(node);
                }

                return true;
            case SwarmTask task when e.Kind == StoreEventKind.Delete:
                _unassigned.Remove(task.Id);
                return Untrack(task.Id);
            case SwarmTask task:
                return TrackTask(task);
            default:
                return false;
        }
    }

    /// <summary>Files the current version of a task: in the queue while it waits for a decision, in its node's index
    /// once it is assigned there and until it finishes. True when it may let a pending task be placed.</summary>
    private bool TrackTask(SwarmTask task)
    {
        var relevant = false;
        var waiting = IsWaiting(task);
        if (waiting)
        {
            // The scheduler's own explanation coming back (the very instance it wrote) changes nothing to decide on.
            relevant = !(_unassigned.TryGetValue(task.Id, out var queued) && ReferenceEquals(queued, task));
            _unassigned[task.Id] = task;
        }
        else
        {
            _unassigned.Remove(task.Id);
        }

        if (!waiting && task.NodeId.Length > 0 && task.Status?.State <= TaskState.Running && _nodes.TryGetValue(task.NodeId, out var node))
        {
            if (_taskNodes.TryGetValue(task.Id, out var previous) && previous != task.NodeId)
            {
                relevant |= Untrack(task.Id);
            }

            var active = node.ActiveTasks;
            node.Put(task);
            _taskNodes[task.Id] = node.Id;
            relevant |= node.ActiveTasks < active;
        }
        else
        {
            relevant |= Untrack(task.Id);
        }

        return relevant;
    }

    /// <summary>Takes a task out of its node's index (it finished, was deleted, or a decision did not commit).</summary>
    private bool Untrack(string taskId)
    {
        if (!_taskNodes.Remove(taskId, out var nodeId))
        {
            return false;
        }

        return _nodes.TryGetValue(nodeId, out var node) && node.Remove(taskId);
    }
}
