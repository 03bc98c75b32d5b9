using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>The task-lifecycle facts the orchestrators share (DESIGN §4 task states), and how they make a task.</summary>
internal static class TaskFacts
{
    /// <summary>The status message of a task an orchestrator created.</summary>
    public const string CreatedMessage = "created";

    public static TaskState StateOf(SwarmTask task) => task.Status?.State ?? TaskState.New;

    /// <summary>The task stopped for good: complete, shut down, failed, rejected or orphaned.</summary>
    public static bool IsTerminal(SwarmTask task) => StateOf(task) > TaskState.Running;

    /// <summary>Meant to run (desired ≤ RUNNING).</summary>
    public static bool IsRunnable(SwarmTask task) => task.DesiredState <= TaskState.Running;

    /// <summary>Meant to run and not stopped (it may still be waiting for a node or starting).</summary>
    public static bool IsActive(SwarmTask task) => IsRunnable(task) && !IsTerminal(task);

    public static bool IsDown(Node? node) => node is null || node.Status?.State == NodeState.Down;

    public static bool IsDrained(Node? node) => node?.Spec?.Availability == NodeAvailability.Drain;

    /// <summary>Its node is gone, DOWN or drained: the task will not run there any more.</summary>
    public static bool LostItsNode(SwarmTask task, Node? node) => task.NodeId.Length > 0 && (IsDown(node) || IsDrained(node));

    /// <summary>When the task was created (the store stamps it; the restart delay counts from it).</summary>
    public static DateTimeOffset CreatedAt(SwarmTask task) => task.Meta?.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue;

    /// <summary>
    /// When the task's status last changed (for a terminal task: when it ended), on the managers' clock: when the
    /// dispatcher applied the agent's report (<c>applied_at</c>), else the status's own time (statuses the managers
    /// write carry their clock). An agent's own timestamp is not used for timing: a worker's clock may be hours off,
    /// and update delays, monitor windows and restart windows would stall or vanish with it.
    /// </summary>
    public static DateTimeOffset StatusAt(SwarmTask task) =>
        task.Status?.AppliedAt?.ToDateTimeOffset() ?? task.Status?.Timestamp?.ToDateTimeOffset() ?? CreatedAt(task);

    /// <summary>Orders tasks oldest first: by creation, then (created in the same instant) by their last status.</summary>
    public static IComparer<SwarmTask> ByAge { get; } = Comparer<SwarmTask>.Create((a, b) =>
    {
        var byCreation = CreatedAt(a).CompareTo(CreatedAt(b));
        return byCreation != 0 ? byCreation : StatusAt(a).CompareTo(StatusAt(b));
    });

    /// <summary>The most recently created task of a non-empty list.</summary>
    public static SwarmTask Newest(IEnumerable<SwarmTask> tasks) => tasks.Max(ByAge)!;

    public static ulong IterationOf(Service service) => service.JobStatus?.JobIteration ?? 0;

    public static bool IsJob(Service service) =>
        service.Spec?.ModeCase is ServiceSpec.ModeOneofCase.ReplicatedJob or ServiceSpec.ModeOneofCase.GlobalJob;

    /// <summary>Whether a task change can change what its slot (global: its service on its node) needs: not the status
    /// reports of a task on its way to RUNNING (the indexes still take them in, for the next pass's choices).</summary>
    public static bool ChangeMatters(StoreEvent e, SwarmTask task)
    {
        if (e.Kind != StoreEventKind.Update || e.Old is not SwarmTask old)
        {
            return true;
        }

        return old.DesiredState != task.DesiredState || old.NodeId != task.NodeId || IsTerminal(old) != IsTerminal(task);
    }

    /// <summary>Of the service's current job iteration (always true for a service that is not a job).</summary>
    public static bool InIteration(SwarmTask task, Service service) =>
        !IsJob(service) || (task.HasJobIteration ? task.JobIteration : 0) == IterationOf(service);

    /// <summary>
    /// A new task of <paramref name="service"/>, as SwarmKit's <c>NewTask</c> makes it: the service's task template
    /// and spec version, state NEW ("created"), the log driver of the template or else the cluster's default, the job
    /// iteration for jobs. Replicated tasks carry their slot; global tasks their node (the scheduler only checks it).
    /// </summary>
    public static SwarmTask NewTask(Service service, long slot, string nodeId, TaskState desired, DateTimeOffset now, Cluster? cluster)
    {
        var id = Identity.NewId();
        var name = service.Spec.Annotations?.Name ?? service.Id;
        var task = new SwarmTask
        {
            Id = id,
            ServiceId = service.Id,
            Slot = slot,
            NodeId = nodeId,
            Spec = service.Spec.Task?.Clone() ?? new TaskSpec(),
            SpecVersion = service.SpecVersion,
            Annotations = new Annotations { Name = $"{name}.{(slot > 0 ? slot.ToString(System.Globalization.CultureInfo.InvariantCulture) : nodeId)}.{id}" },
            ServiceAnnotations = service.Spec.Annotations?.Clone() ?? new Annotations(),
            Status = new SwarmTaskStatus { State = TaskState.New, Message = CreatedMessage, Timestamp = Timestamp.FromDateTimeOffset(now) },
            DesiredState = desired,
            LogDriver = (service.Spec.Task?.LogDriver ?? cluster?.Spec?.TaskDefaults?.LogDriver)?.Clone(),
        };
        if (IsJob(service))
        {
            task.JobIteration = IterationOf(service);
        }

        return task;
    }
}
