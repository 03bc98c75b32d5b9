using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Keeps every replicated service at its number of replicas, in slots 1..N, and runs replicated jobs (DESIGN §8).
/// A slot is filled while one of its tasks is active (meant to run, not stopped, on a node that is neither DOWN,
/// drained nor gone). A slot whose tasks all stopped gets a replacement in the same slot when
/// <see cref="RestartSupervisor.Decide"/> says so (delayed ones are created with desired READY and started by the
/// <see cref="RestartSupervisor"/>), else it stays filled by its stopped task. Missing slots are created in the lowest
/// free numbers; surplus slots are removed (desired REMOVE) cheapest first: stopped slots, then tasks not running,
/// then tasks on the nodes that hold most of the service, then the highest slot. Tasks of another spec version are
/// left running (replacing them is the update supervisor's work); a change of replicas alone never replaces a task.
/// It follows the store from a <see cref="MemoryStore.ViewAndWatch"/> snapshot in its own index, reconciles only the
/// services an event touched, debounced, and commits each pass in one batch.
/// </summary>
public sealed class ReplicatedOrchestrator
{
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);

    public ReplicatedOrchestrator(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<ReplicatedOrchestrator>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(ReplicatedOrchestrator), store, options, time, logger);

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => _loop.PassesCompleted;

    /// <summary>Transactions the last pass committed.</summary>
    internal int LastPassCommits => _loop.LastPassCommits;

    /// <summary>Reconciles until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store
    /// closes; every service is checked at start, so nothing missed during a failover is lost.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        _loop.RunAsync(Load, Apply, HasWork, Plan, _loop.Options.CommitDebounceGap, cancellationToken);

    internal static bool IsReplicated(Service? service) =>
        service?.Spec?.ModeCase is ServiceSpec.ModeOneofCase.Replicated or ServiceSpec.ModeOneofCase.ReplicatedJob;

    private void Load()
    {
        _dirty.Clear();
        _dirty.UnionWith(_loop.Index.ServiceIds(IsReplicated));
    }

    private bool HasWork() => _dirty.Count > 0;

    private bool Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Service service when e.Kind != StoreEventKind.Delete && IsReplicated(service):
                _dirty.Add(service.Id);
                return true;
            case Node node when NodeChangeMatters(e, node):
                var any = false;
                foreach (var serviceId in _loop.Index.ServicesOn(node.Id))
                {
                    if (IsReplicated(_loop.Index.Services.GetValueOrDefault(serviceId)))
                    {
                        _dirty.Add(serviceId);
                        any = true;
                    }
                }

                return any;
            case SwarmTask task when TaskFacts.ChangeMatters(e, task) && IsReplicated(_loop.Index.Services.GetValueOrDefault(task.ServiceId)):
                _dirty.Add(task.ServiceId);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Whether the node's tasks may have to move: it was deleted, or its state or availability changed.</summary>
    private static bool NodeChangeMatters(StoreEvent e, Node node) =>
        e.Kind == StoreEventKind.Delete || (e.Old is Node old
            && (old.Status?.State != node.Status?.State || old.Spec?.Availability != node.Spec?.Availability));

    private int Plan(WritePlan plan)
    {
        var now = _loop.Time.GetUtcNow();
        var services = _dirty.Count;
        foreach (var id in _dirty)
        {
            if (!_loop.Index.Services.TryGetValue(id, out var service) || service.PendingDelete)
            {
                continue;
            }

            if (service.Spec.ModeCase == ServiceSpec.ModeOneofCase.Replicated)
            {
                ReconcileService(service, plan, now);
            }
            else if (service.Spec.ModeCase == ServiceSpec.ModeOneofCase.ReplicatedJob)
            {
                ReconcileJob(service, plan, now);
            }
        }

        _dirty.Clear();
        return services;
    }

    private enum SlotKind
    {
        /// <summary>Its task stopped and the restart policy says it stays so (it still counts as a replica).</summary>
        Stopped,

        /// <summary>Its task stopped and a replacement is due.</summary>
        Restarting,

        /// <summary>A task is active but not (yet) running.</summary>
        Starting,

        Running,
    }

    private sealed record SlotState(long Slot, SlotKind Kind, string NodeId, TimeSpan Delay);

    /// <summary>Groups the service's tasks (not being removed) of the current job iteration by slot.</summary>
    private SortedDictionary<long, List<SwarmTask>> SlotsOf(Service service, WritePlan plan)
    {
        var slots = new SortedDictionary<long, List<SwarmTask>>();
        foreach (var task in _loop.Index.TasksOf(service.Id))
        {
            if (task.DesiredState >= TaskState.Remove || task.Slot <= 0)
            {
                continue;
            }

            if (!TaskFacts.InIteration(task, service))
            {
                // A job re-run: tasks of earlier iterations stop (and become history).
                plan.Raise(task, TaskState.Shutdown);
                continue;
            }

            if (!slots.TryGetValue(task.Slot, out var list))
            {
                slots[task.Slot] = list = [];
            }

            list.Add(task);
        }

        return slots;
    }

    /// <summary>Classifies one slot; stopped tasks still meant to run are shut down.</summary>
    private SlotState Classify(long slot, List<SwarmTask> tasks, WritePlan plan, bool isJob)
    {
        SwarmTask? active = null;
        foreach (var task in tasks)
        {
            if (TaskFacts.IsActive(task) && !TaskFacts.LostItsNode(task, _loop.Index.NodeOf(task)))
            {
                if (active is null || TaskFacts.StateOf(task) == TaskState.Running)
                {
                    active = task;
                }
            }
            else if (TaskFacts.IsRunnable(task))
            {
                plan.Raise(task, TaskState.Shutdown);
            }
        }

        if (active is not null)
        {
            return new SlotState(slot, TaskFacts.StateOf(active) == TaskState.Running ? SlotKind.Running : SlotKind.Starting, active.NodeId, TimeSpan.Zero);
        }

        var newest = TaskFacts.Newest(tasks);
        var node = _loop.Index.NodeOf(newest);
        var decision = RestartSupervisor.Decide(newest, tasks, node, isJob);
        var delay = TaskFacts.IsDrained(node) ? TimeSpan.Zero : decision.Delay;
        return new SlotState(slot, decision.Replace ? SlotKind.Restarting : SlotKind.Stopped, newest.NodeId, delay);
    }

    private void ReconcileService(Service service, WritePlan plan, DateTimeOffset now)
    {
        var slots = SlotsOf(service, plan);
        var states = slots.Select(s => Classify(s.Key, s.Value, plan, isJob: false)).ToList();
        var replicas = Math.Max(0, service.Spec.Replicated.Replicas);
        if (states.Count > replicas)
        {
            var perNode = states.Where(s => s.Kind >= SlotKind.Starting && s.NodeId.Length > 0)
                .GroupBy(s => s.NodeId, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var removed = states
                .OrderBy(s => s.Kind)
                .ThenByDescending(s => perNode.GetValueOrDefault(s.NodeId))
                .ThenByDescending(s => s.Slot)
                .Take(states.Count - (int)Math.Min(replicas, int.MaxValue))
                .ToList();
            foreach (var state in removed)
            {
                foreach (var task in slots[state.Slot])
                {
                    plan.Raise(task, TaskState.Remove);
                }

                states.Remove(state);
            }
        }

        foreach (var state in states)
        {
            if (state.Kind == SlotKind.Restarting)
            {
                CreateInSlot(service, state.Slot, state.Delay, plan, now);
            }
        }

        var missing = replicas - states.Count;
        for (long slot = 1; missing > 0; slot++)
        {
            if (!slots.ContainsKey(slot))
            {
                CreateInSlot(service, slot, TimeSpan.Zero, plan, now);
                missing--;
            }
        }
    }

    private void ReconcileJob(Service service, WritePlan plan, DateTimeOffset now)
    {
        var slots = SlotsOf(service, plan);
        var (maxConcurrent, totalCompletions) = JobLimits(service.Spec.ReplicatedJob);
        long completed = 0, active = 0, stopped = 0;
        foreach (var (slot, tasks) in slots)
        {
            if (tasks.Any(t => TaskFacts.StateOf(t) == TaskState.Complete))
            {
                completed++;
                continue;
            }

            var state = Classify(slot, tasks, plan, isJob: true);
            switch (state.Kind)
            {
                case SlotKind.Stopped:
                    stopped++;
                    break;
                case SlotKind.Restarting:
                    active++;
                    CreateInSlot(service, slot, state.Delay, plan, now);
                    break;
                default:
                    active++;
                    break;
            }
        }

        var create = Math.Min(maxConcurrent - active, totalCompletions - completed - active - stopped);
        for (long slot = 1; create > 0; slot++)
        {
            if (!slots.ContainsKey(slot))
            {
                CreateInSlot(service, slot, TimeSpan.Zero, plan, now);
                create--;
            }
        }
    }

    /// <summary>A replicated job's limits with SwarmKit's defaults: each of max_concurrent and total_completions
    /// defaults to the other, and both to 1.</summary>
    internal static (long MaxConcurrent, long TotalCompletions) JobLimits(ReplicatedJob? job)
    {
        var maxConcurrent = job?.MaxConcurrent ?? 0;
        var total = job?.TotalCompletions ?? 0;
        if (maxConcurrent <= 0)
        {
            maxConcurrent = total > 0 ? total : 1;
        }

        if (total <= 0)
        {
            total = maxConcurrent;
        }

        return (maxConcurrent, total);
    }

    /// <summary>Plans a new task in <paramref name="slot"/>, made from the service as stored when the write runs,
    /// and only if the slot still has no active task of this iteration then.</summary>
    private static void CreateInSlot(Service service, long slot, TimeSpan delay, WritePlan plan, DateTimeOffset now)
    {
        var serviceId = service.Id;
        var desired = delay > TimeSpan.Zero ? TaskState.Ready : TaskState.Running;
        plan.Create(tx =>
        {
            var current = tx.Services.Get(serviceId);
            if (current is null || current.PendingDelete || !IsReplicated(current))
            {
                return null;
            }

            foreach (var task in tx.Tasks.BySlot(serviceId, slot))
            {
                if (TaskFacts.IsActive(task) && TaskFacts.InIteration(task, current) && !TaskFacts.LostItsNode(task, tx.Nodes.Get(task.NodeId)))
                {
                    return null;
                }
            }

            return TaskFacts.NewTask(current, slot, string.Empty, desired, now, tx.Clusters.All().FirstOrDefault());
        });
    }
}
