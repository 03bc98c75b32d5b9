using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Api.Defaults;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator.Update;

public sealed partial class UpdateSupervisor
{
    private const string InProgressMessage = "update in progress";
    private const string CompletedMessage = "update completed";
    private const string RollbackCompletedMessage = "rollback completed";

    /// <summary>One slot of a service (global: the service on one node) as this pass sees it.</summary>
    private sealed class Slot(string key, long number, string nodeId)
    {
        public string Key { get; } = key;

        /// <summary>The replicated slot number (0 for global services).</summary>
        public long Number { get; } = number;

        /// <summary>The node of a global service's slot (empty for replicated services).</summary>
        public string NodeId { get; } = nodeId;

        /// <summary>Every task of the slot not being removed, whatever its spec and state.</summary>
        public List<SwarmTask> All { get; } = [];

        /// <summary>Tasks of another spec, meant to run, not stopped, on a node that may keep them (not DOWN, drained
        /// or gone).</summary>
        public List<SwarmTask> OldActive { get; } = [];

        /// <summary>Tasks of another spec told to stop that have not stopped yet, on a node that may still report.</summary>
        public List<SwarmTask> OldStopping { get; } = [];

        /// <summary>The slot's most recently created task of another spec.</summary>
        public SwarmTask? NewestOld { get; set; }

        /// <summary>Whether the slot has tasks of another spec at all (stopped ones included).</summary>
        public bool HasOld { get; set; }

        /// <summary>Up-to-date tasks meant to run and not stopped.</summary>
        public List<SwarmTask> Fresh { get; } = [];

        /// <summary>Up-to-date tasks created since the update started, in creation order (any state).</summary>
        public List<SwarmTask> Updated { get; } = [];

        /// <summary>Tasks of <see cref="Updated"/> that ended on their own within their monitor window.</summary>
        public List<SwarmTask> Failed { get; } = [];

        /// <summary>The slot's newest task of another spec ended on its own (failed, completed, rejected, orphaned):
        /// a current task created since is its restart (the restart policy's, with its delay), not a replacement.</summary>
        public bool OldEndedOnItsOwn { get; set; }

        /// <summary>Part of this update: a task of the current spec was created for it since the update started.</summary>
        public bool Touched => HasOld && Updated.Count > 0;

        /// <summary>Still to update: an old task is meant to run, no current one is, and no attempt failed.</summary>
        public bool IsDirty => OldActive.Count > 0 && Fresh.Count == 0 && Failed.Count == 0;

        /// <summary>Being replaced: the slot's first new task (the update's own) has not reached RUNNING yet, or an old
        /// task still runs next to a new one. Later new tasks of the slot are restarts: they never hold the update.</summary>
        public bool InFlight => Touched && !OldEndedOnItsOwn && Failed.Count == 0
            && ((Fresh.Contains(Updated[0]) && TaskFacts.StateOf(Updated[0]) < TaskState.Running) || (OldActive.Count > 0 && Fresh.Count > 0));
    }

    /// <summary>The update or rollback config in force, with SwarmKit's defaults for what is unset.</summary>
    private static (long Parallelism, TimeSpan Delay, FailureAction Action, TimeSpan Monitor, float Ratio, UpdateOrder Order) ConfigOf(Service service, bool rollingBack)
    {
        var config = (rollingBack ? service.Spec.Rollback : service.Spec.Update) ?? ServiceDefaults.NewUpdateConfig();
        var delay = config.Delay?.ToTimeSpan() ?? ServiceDefaults.UpdateDelay;
        var monitor = config.Monitor?.ToTimeSpan() ?? ServiceDefaults.UpdateMonitor;
        var action = config.FailureAction == FailureAction.Unspecified ? ServiceDefaults.UpdateFailureAction : config.FailureAction;
        var order = config.Order == UpdateOrder.Unspecified ? ServiceDefaults.UpdateOrder : config.Order;
        return (Math.Max(0, config.Parallelism), delay < TimeSpan.Zero ? TimeSpan.Zero : delay, action,
            monitor < TimeSpan.Zero ? TimeSpan.Zero : monitor, Math.Max(0f, config.MaxFailureRatio), order);
    }

    /// <summary>
    /// Plans one step of the service's update from the store as indexed, and returns when the service must be looked
    /// at again even if nothing changes (the end of a delay or of a monitor window), or null.
    /// </summary>
    private DateTimeOffset? Evaluate(Service service, UpdatePlan plan, DateTimeOffset now)
    {
        if (service.PendingDelete || service.Spec is null || TaskFacts.IsJob(service)
            || !(ReplicatedOrchestrator.IsReplicated(service) || GlobalOrchestrator.IsGlobal(service)))
        {
            return null;
        }

        var state = service.UpdateStatus?.State ?? UpdateState.Unknown;
        if (state is not (UpdateState.Unknown or UpdateState.Updating or UpdateState.RollbackStarted))
        {
            // Paused or finished: the next spec update (which clears the status) or a rollback starts another.
            return null;
        }

        var rollingBack = state == UpdateState.RollbackStarted;
        var config = ConfigOf(service, rollingBack);
        var startedAt = state == UpdateState.Unknown ? now : service.UpdateStatus!.StartedAt?.ToDateTimeOffset() ?? now;
        var slots = SlotsOf(service, startedAt, config.Monitor);
        var dirty = slots.Where(s => s.IsDirty).ToList();
        if (state == UpdateState.Unknown)
        {
            if (dirty.Count == 0)
            {
                return null;
            }

            state = UpdateState.Updating;
            SetStatus(plan, service, UpdateState.Unknown, new UpdateStatus
            {
                State = UpdateState.Updating,
                StartedAt = Timestamp.FromDateTimeOffset(now),
                Message = InProgressMessage,
            });
            UpdateLog.UpdateStarted(_loop.Logger, service.Id, service.Spec.Annotations?.Name, dirty.Count, state);
        }

        // The failure action, once failures exceed the ratio of the slots this update covers.
        var failures = slots.SelectMany(s => s.Failed).ToList();
        var covered = slots.Count(s => s.Touched) + dirty.Count;
        if (failures.Count > 0 && failures.Count > config.Ratio * covered && config.Action != FailureAction.Continue)
        {
            var failed = failures.Max(TaskFacts.ByAge)!;
            var cause = $"failure or early termination of task {failed.Id}: {DescribeEnd(failed)}";
            if (rollingBack)
            {
                SetStatus(plan, service, state, Paused(service, UpdateState.RollbackPaused, $"rollback paused due to {cause}"));
            }
            else if (config.Action == FailureAction.Rollback && service.PreviousSpec is not null)
            {
                RollBack(plan, service, now, $"update rolled back due to {cause}");
            }
            else
            {
                SetStatus(plan, service, state, Paused(service, UpdateState.Paused, $"update paused due to {cause}"));
            }

            return null;
        }

        // Slots being replaced: stop-first starts the new task once the old stopped; start-first stops the old task
        // once the new one runs.
        var inFlight = 0;
        foreach (var slot in slots)
        {
            AdvanceSlot(slot, config.Order, plan);
            if (slot.InFlight)
            {
                inFlight++;
            }
        }

        var lastRan = LastRan(slots);
        if (dirty.Count > 0)
        {
            if (inFlight > 0)
            {
                return null;
            }

            if (lastRan is { } ran && config.Delay > TimeSpan.Zero && now < ran + config.Delay)
            {
                return ran + config.Delay;
            }

            var batch = config.Parallelism == 0 ? dirty.Count : (int)Math.Min(config.Parallelism, dirty.Count);
            UpdateLog.Batch(_loop.Logger, service.Id, batch, config.Order, dirty.Count - batch);
            foreach (var slot in dirty.Take(batch))
            {
                ReplaceSlot(plan, service, slot, config.Order, now);
            }

            return null;
        }

        if (inFlight > 0 || slots.Any(s => IsSettling(s, service)))
        {
            return null;
        }

        // Every slot is done: COMPLETED only once the last new task's monitor window has passed.
        var monitorEnd = slots.SelectMany(s => s.Updated)
            .Where(t => TaskFacts.StateOf(t) == TaskState.Running)
            .Select(t => RanAt(t) + config.Monitor)
            .DefaultIfEmpty(DateTimeOffset.MinValue)
            .Max();
        if (now < monitorEnd)
        {
            return monitorEnd;
        }

        var status = service.UpdateStatus?.Clone() ?? new UpdateStatus { StartedAt = Timestamp.FromDateTimeOffset(now) };
        status.State = rollingBack ? UpdateState.RollbackCompleted : UpdateState.Completed;
        status.Message = rollingBack ? RollbackCompletedMessage : CompletedMessage;
        status.CompletedAt = Timestamp.FromDateTimeOffset(now);
        SetStatus(plan, service, state, status);
        return null;
    }

    /// <summary>Groups the service's tasks (not being removed) by slot and classifies them.</summary>
    private List<Slot> SlotsOf(Service service, DateTimeOffset startedAt, TimeSpan monitor)
    {
        var global = GlobalOrchestrator.IsGlobal(service);
        var slots = new SortedDictionary<string, Slot>(StringComparer.Ordinal);
        foreach (var task in _loop.Index.TasksOf(service.Id))
        {
            if (task.DesiredState >= TaskState.Remove || (global ? task.NodeId.Length == 0 : task.Slot <= 0))
            {
                continue;
            }

            // Slot numbers sort as numbers (a fixed width keeps the ordinal order numeric).
            var key = global ? task.NodeId : task.Slot.ToString("D19", CultureInfo.InvariantCulture);
            if (!slots.TryGetValue(key, out var slot))
            {
                slots[key] = slot = new Slot(key, global ? 0 : task.Slot, global ? task.NodeId : string.Empty);
            }

            slot.All.Add(task);

            var node = _loop.Index.NodeOf(task);
            // Tasks on a node that is DOWN, drained or gone are the orchestrators' to replace, not this loop's.
            var lost = TaskFacts.LostItsNode(task, node);
            if (TaskRules.IsUpToDate(service, task, node))
            {
                if (TaskFacts.IsActive(task) && !lost)
                {
                    slot.Fresh.Add(task);
                }

                if (TaskFacts.CreatedAt(task) >= startedAt)
                {
                    slot.Updated.Add(task);
                }

                continue;
            }

            if (slot.NewestOld is null || TaskFacts.ByAge.Compare(task, slot.NewestOld) > 0)
            {
                slot.NewestOld = task;
                slot.OldEndedOnItsOwn = TaskFacts.StateOf(task) is TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Orphaned;
            }

            slot.HasOld = true;
            if (TaskFacts.IsTerminal(task) || lost)
            {
                continue;
            }

            if (TaskFacts.IsRunnable(task))
            {
                slot.OldActive.Add(task);
            }
            else if (task.NodeId.Length > 0)
            {
                slot.OldStopping.Add(task);
            }
        }

        foreach (var slot in slots.Values)
        {
            slot.Updated.Sort(TaskFacts.ByAge);
            foreach (var task in slot.Updated)
            {
                if (FailedWithinMonitor(task, monitor))
                {
                    slot.Failed.Add(task);
                }
            }
        }

        return [.. slots.Values];
    }

    /// <summary>A task of the update that ended on its own (not shut down on request) before it ran, or within
    /// <paramref name="monitor"/> after it did; when this loop never saw it run, it counts.</summary>
    private bool FailedWithinMonitor(SwarmTask task, TimeSpan monitor)
    {
        if (TaskFacts.StateOf(task) is not (TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Orphaned))
        {
            return false;
        }

        return !_ranAt.TryGetValue(task.Id, out var ranAt) || TaskFacts.StatusAt(task) - ranAt < monitor;
    }

    /// <summary>When a RUNNING task reached RUNNING: as first seen by this loop, else (a task already running when
    /// the loop started) its status time — later status reports of a running task must not move its window.</summary>
    private DateTimeOffset RanAt(SwarmTask task) => _ranAt.TryGetValue(task.Id, out var at) ? at : TaskFacts.StatusAt(task);

    /// <summary>When the last task of the update reached RUNNING, or null when none did yet.</summary>
    private DateTimeOffset? LastRan(List<Slot> slots)
    {
        DateTimeOffset? last = null;
        foreach (var task in slots.Where(s => s.Touched).SelectMany(s => s.Updated))
        {
            DateTimeOffset? ran = TaskFacts.StateOf(task) == TaskState.Running ? RanAt(task)
                : _ranAt.TryGetValue(task.Id, out var at) ? at : null;
            if (ran is { } r && (last is null || r > last))
            {
                last = r;
            }
        }

        return last;
    }

    /// <summary>
    /// Whether a slot this update covers (it had a task of another spec) has not settled yet although none of this
    /// loop's replacements is in flight in it, so the update is not complete: its task of the current spec is a
    /// restart (the old task ended on its own) that has not reached RUNNING, or nothing in it is meant to run and the
    /// replicated orchestrator will fill it as <see cref="RestartSupervisor.Decide"/> rules — e.g. the slot whose task
    /// of the new version failed and made the update roll back. Its task, once RUNNING, is then watched for the monitor
    /// window like the others. Slots that failed within this update, that the restart policy leaves empty, or beyond
    /// the replica count do not hold it.
    /// </summary>
    private bool IsSettling(Slot slot, Service service)
    {
        if (!slot.HasOld || slot.Failed.Count > 0 || slot.OldActive.Count > 0 || slot.OldStopping.Count > 0)
        {
            return false;
        }

        if (slot.Fresh.Count > 0)
        {
            return !slot.Fresh.Any(t => TaskFacts.StateOf(t) == TaskState.Running);
        }

        if (GlobalOrchestrator.IsGlobal(service) || slot.Number > service.Spec.Replicated.Replicas)
        {
            return false;
        }

        var newest = TaskFacts.Newest(slot.All);
        return RestartSupervisor.Decide(newest, slot.All, _loop.Index.NodeOf(newest), isJob: false).Replace;
    }

    /// <summary>Moves a slot being replaced one step on.</summary>
    private static void AdvanceSlot(Slot slot, UpdateOrder order, UpdatePlan plan)
    {
        if (!slot.Touched || slot.Fresh.Count == 0)
        {
            return;
        }

        if (slot.Fresh.Any(t => TaskFacts.StateOf(t) == TaskState.Running) || order == UpdateOrder.StopFirst)
        {
            foreach (var old in slot.OldActive)
            {
                plan.Raise(old, TaskState.Shutdown);
            }
        }

        // Stop-first: the first new task of the slot waits (desired READY, prepared) until the old ones stopped. When
        // the old task ended on its own, the first task of the current spec is the orchestrator's restart: it starts at
        // once too, since the restart delay holds back a crash loop of one version, not a change of version (a rollback
        // brings the old version back into the slot whose new task failed without waiting the delay, as SwarmKit's
        // rollback replaces that slot's pending restart). Later new tasks of the slot are restarts of the current
        // version, whose delay is the restart supervisor's.
        var first = slot.Updated[0];
        if (first.DesiredState == TaskState.Ready && slot.Fresh.Contains(first) && slot.OldActive.Count == 0 && slot.OldStopping.Count == 0)
        {
            plan.Raise(first, TaskState.Running);
        }
    }

    /// <summary>Plans a slot's replacement: a new task from the service as it is when the write runs (only if its spec
    /// version is still the one decided on and the slot still has no up-to-date task); stop-first also shuts the old
    /// tasks down in the same transaction.</summary>
    private static void ReplaceSlot(UpdatePlan plan, Service service, Slot slot, UpdateOrder order, DateTimeOffset now)
    {
        var serviceId = service.Id;
        var version = service.SpecVersion;
        plan.Replace(tx =>
        {
            var current = tx.Services.Get(serviceId);
            if (current is null || current.PendingDelete || current.SpecVersion != version)
            {
                return false;
            }

            var tasks = slot.Number > 0
                ? tx.Tasks.BySlot(serviceId, slot.Number).ToList()
                : tx.Tasks.ByNode(slot.NodeId).Where(t => t.ServiceId == serviceId).ToList();
            var old = new List<SwarmTask>();
            var anyOnNode = false;
            foreach (var task in tasks)
            {
                if (task.DesiredState >= TaskState.Remove || !TaskFacts.IsActive(task))
                {
                    continue;
                }

                var node = task.NodeId.Length > 0 ? tx.Nodes.Get(task.NodeId) : null;
                if (TaskRules.IsUpToDate(current, task, node))
                {
                    return false;
                }

                old.Add(task);
                anyOnNode |= task.NodeId.Length > 0 && !TaskFacts.LostItsNode(task, node);
            }

            if (old.Count == 0)
            {
                return false;
            }

            if (slot.Number == 0)
            {
                var node = tx.Nodes.Get(slot.NodeId);
                if (node is null || !GlobalOrchestrator.CanKeep(current, node))
                {
                    return false;
                }
            }

            var stopFirst = order == UpdateOrder.StopFirst;
            if (stopFirst)
            {
                foreach (var task in old)
                {
                    var copy = task.Clone();
                    copy.DesiredState = TaskState.Shutdown;
                    tx.Update(copy);
                }
            }

            var desired = stopFirst && anyOnNode ? TaskState.Ready : TaskState.Running;
            tx.Create(TaskFacts.NewTask(current, slot.Number, slot.NodeId, desired, now, tx.Clusters.All().FirstOrDefault()));
            return true;
        });
    }

    /// <summary>The rollback failure action: the previous spec swapped in as the control API's rollback does.</summary>
    private void RollBack(UpdatePlan plan, Service service, DateTimeOffset now, string message)
    {
        var serviceId = service.Id;
        var version = service.SpecVersion;
        plan.ChangeService(tx =>
        {
            var current = tx.Services.Get(serviceId);
            if (current is null || current.SpecVersion != version || current.UpdateStatus?.State != UpdateState.Updating || current.PreviousSpec is null)
            {
                return false;
            }

            tx.Update(ServiceRollback.Swapped(current, message, Timestamp.FromDateTimeOffset(now)));
            return true;
        });
        UpdateLog.StatusChanged(_loop.Logger, service.Id, service.Spec.Annotations?.Name, UpdateState.RollbackStarted, message);
    }

    private static UpdateStatus Paused(Service service, UpdateState state, string message) => new()
    {
        State = state,
        StartedAt = service.UpdateStatus?.StartedAt,
        Message = message,
    };

    /// <summary>Writes the service's update status if its spec version and status are still what was decided on.</summary>
    private void SetStatus(UpdatePlan plan, Service service, UpdateState expected, UpdateStatus status)
    {
        var serviceId = service.Id;
        var version = service.SpecVersion;
        plan.ChangeService(tx =>
        {
            var current = tx.Services.Get(serviceId);
            if (current is null || current.SpecVersion != version || (current.UpdateStatus?.State ?? UpdateState.Unknown) != expected)
            {
                return false;
            }

            var copy = current.Clone();
            copy.UpdateStatus = status;
            tx.Update(copy);
            return true;
        });
        if (status.State != UpdateState.Updating)
        {
            UpdateLog.StatusChanged(_loop.Logger, service.Id, service.Spec.Annotations?.Name, status.State, status.Message);
        }
    }

    /// <summary>How a task ended, for the status message: its error, else its message, else its state.</summary>
    private static string DescribeEnd(SwarmTask task)
    {
        var status = task.Status;
        if (!string.IsNullOrEmpty(status?.Err))
        {
            return status.Err;
        }

        var state = TaskFacts.StateOf(task).ToString().ToLowerInvariant();
        return string.IsNullOrEmpty(status?.Message) ? state : $"{state} ({status.Message})";
    }
}
