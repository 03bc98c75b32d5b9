using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Shoal.Api;

namespace Shoal.Manager.Scheduler;

public sealed partial class Scheduler
{
    /// <summary>
    /// Tasks that can share one filter pass and one node picker. Tasks of a service share a spec version; tasks without
    /// one (or without a service) are grouped by the bytes of what placement reads — reservations, placement and
    /// host-mode ports — so a thousand identical one-off tasks are one group, not a thousand.
    /// </summary>
    private readonly record struct GroupKey(string ServiceId, ulong SpecVersion, ByteString? Placement);

    private enum Outcome
    {
        Committed,

        /// <summary>The task changed since the decision but still waits for a node: decide again.</summary>
        Retry,

        /// <summary>The task is gone or no longer waits for a node.</summary>
        Dropped,
    }

    private readonly record struct Decision(SwarmTask Task, NodeInfo Node);

    private readonly record struct Unschedulable(SwarmTask Task, string Error);

    /// <summary>One scheduling pass over the queued tasks. True when some decisions conflicted and were queued again.</summary>
    private async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _passesStarted);
        var started = _time.GetTimestamp();
        var groups = new Dictionary<GroupKey, List<SwarmTask>>();
        var preassigned = new List<SwarmTask>();
        foreach (var task in _unassigned.Values)
        {
            if (task.NodeId.Length > 0)
            {
                preassigned.Add(task);
                continue;
            }

            var key = KeyOf(task);
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
            }

            list.Add(task);
        }

        LastPassGroups = groups.Count;
        var decisions = new List<Decision>();
        var failures = new List<Unschedulable>();

        // Tasks bound to a node already go first, as in SwarmKit: they can go nowhere else.
        foreach (var task in preassigned)
        {
            CheckPreassigned(task, decisions, failures);
        }

        foreach (var tasks in groups.Values)
        {
            ScheduleGroup(tasks, decisions, failures);
        }

        foreach (var decision in decisions)
        {
            _unassigned.Remove(decision.Task.Id);
        }

        var retry = false;
        var commits = 0;
        var conflicts = 0;
        if (decisions.Count > 0 || failures.Count > 0)
        {
            if (BeforeCommitAsync is { } hook)
            {
                await hook(cancellationToken);
            }

            var outcomes = new Outcome[decisions.Count];
            var written = new SwarmTask?[failures.Count];
            commits = await CommitAsync(decisions, outcomes, failures, written, cancellationToken);
            for (var i = 0; i < decisions.Count; i++)
            {
                if (outcomes[i] == Outcome.Committed)
                {
                    continue;
                }

                // The decision did not commit: give back what it took on the node.
                conflicts++;
                var task = decisions[i].Task;
                Untrack(task.Id);
                if (outcomes[i] == Outcome.Retry)
                {
                    _unassigned[task.Id] = task;
                    retry = true;
                }
            }

            for (var i = 0; i < failures.Count; i++)
            {
                if (written[i] is { } stored && _unassigned.ContainsKey(stored.Id))
                {
                    _unassigned[stored.Id] = stored;
                }
            }
        }

        var assigned = decisions.Count - conflicts;
        var elapsedMs = _time.GetElapsedTime(started).TotalMilliseconds;
        LogPass(_logger, _unassigned.Count + assigned, groups.Count, _nodes.Count, assigned, failures.Count, conflicts, commits, elapsedMs);
        Summarize(assigned);
        Interlocked.Increment(ref _passesCompleted);
        return retry;
    }

    private static GroupKey KeyOf(SwarmTask task)
    {
        if (task.ServiceId.Length > 0 && task.SpecVersion != 0)
        {
            return new GroupKey(task.ServiceId, task.SpecVersion, null);
        }

        var spec = task.Spec;
        var hostPorts = task.Endpoint is { Ports.Count: > 0 } ? HostPort.Of(task).ToList() : null;
        if (spec?.Placement is null && spec?.Resources?.Reservations is null && hostPorts is not { Count: > 0 })
        {
            return new GroupKey(task.ServiceId, 0, ByteString.Empty);
        }

        var relevant = new SwarmTask
        {
            Spec = new TaskSpec { Placement = spec?.Placement, Resources = new ResourceRequirements { Reservations = spec?.Resources?.Reservations } },
            Endpoint = new Endpoint(),
        };
        foreach (var port in hostPorts ?? [])
        {
            relevant.Endpoint.Ports.Add(new PortConfig { Protocol = port.Protocol, PublishedPort = port.Port, PublishMode = PublishMode.Host });
        }

        return new GroupKey(task.ServiceId, 0, relevant.ToByteString());
    }

    private void CheckPreassigned(SwarmTask task, List<Decision> decisions, List<Unschedulable> failures)
    {
        if (!_nodes.TryGetValue(task.NodeId, out var node))
        {
            Fail(task, $"no suitable node (node {task.NodeId} not found)", failures);
            return;
        }

        if (FilterPipeline.For(task, out var error) is not { } pipeline)
        {
            Fail(task, error!, failures);
            return;
        }

        if (!pipeline.Process(node))
        {
            Fail(task, $"no suitable node ({pipeline.Explain()})", failures);
            return;
        }

        node.Put(task);
        _taskNodes[task.Id] = node.Id;
        decisions.Add(new Decision(task, node));
    }

    private void ScheduleGroup(List<SwarmTask> tasks, List<Decision> decisions, List<Unschedulable> failures)
    {
        var first = tasks[0];
        if (FilterPipeline.For(first, out var error) is not { } pipeline)
        {
            foreach (var task in tasks)
            {
                Fail(task, error!, failures);
            }

            return;
        }

        var candidates = new List<NodeInfo>();
        foreach (var node in _nodes.Values)
        {
            if (pipeline.Process(node))
            {
                candidates.Add(node);
            }
        }

        var picker = NodePicker.Build(candidates, NodePicker.SpreadDescriptors(first.Spec?.Placement), pipeline.ServiceId);
        void Assign(NodeInfo node, SwarmTask task)
        {
            node.Put(task);
            _taskNodes[task.Id] = node.Id;
            decisions.Add(new Decision(task, node));
        }

        for (var i = 0; i < tasks.Count; i++)
        {
            if (picker.Place(tasks[i], pipeline, Assign) is not null)
            {
                continue;
            }

            // No node can take this task, nor the rest of the group: explain why from the nodes as they are now.
            pipeline.ResetCounts();
            foreach (var node in _nodes.Values)
            {
                pipeline.Process(node);
            }

            var explanation = pipeline.Explain();
            var message = explanation.Length == 0 ? "no suitable node" : $"no suitable node ({explanation})";
            for (; i < tasks.Count; i++)
            {
                Fail(tasks[i], message, failures);
            }
        }
    }

    private static void Fail(SwarmTask task, string error, List<Unschedulable> failures)
    {
        // The explanation is written when it changes, not at every pass.
        if (task.Status?.Err != error)
        {
            failures.Add(new Unschedulable(task, error));
        }
    }

    /// <summary>Writes the pass's decisions in batches, each task from its stored version; returns the transactions.</summary>
    private async Task<int> CommitAsync(List<Decision> decisions, Outcome[] outcomes, List<Unschedulable> failures, SwarmTask?[] written, CancellationToken cancellationToken)
    {
        var now = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
        return await _store.BatchAsync(async batch =>
        {
            for (var i = 0; i < decisions.Count; i++)
            {
                var index = i;
                var decision = decisions[i];
                await batch.UpdateAsync(tx =>
                {
                    var current = tx.Tasks.Get(decision.Task.Id);
                    if (current is null || !IsWaiting(current) || current.NodeId != decision.Task.NodeId)
                    {
                        outcomes[index] = Outcome.Dropped;
                        return;
                    }

                    if (current.Meta.Version != decision.Task.Meta.Version || !StillAvailable(tx.Nodes.Get(decision.Node.Id)))
                    {
                        // The task changed, or its node went away or stopped taking tasks, since the decision: the
                        // events that say so are queued; decide again from them.
                        outcomes[index] = Outcome.Retry;
                        return;
                    }

                    var copy = current.Clone();
                    copy.NodeId = decision.Node.Id;
                    copy.Status = new SwarmTaskStatus { State = TaskState.Assigned, Message = AssignedMessage, Timestamp = now };
                    tx.Update(copy);
                    outcomes[index] = Outcome.Committed;
                });
            }

            for (var i = 0; i < failures.Count; i++)
            {
                var index = i;
                var failure = failures[i];
                await batch.UpdateAsync(tx =>
                {
                    var current = tx.Tasks.Get(failure.Task.Id);
                    if (current is null || !IsWaiting(current) || current.Meta.Version != failure.Task.Meta.Version)
                    {
                        // Changed meanwhile: its event queues the new version, which the next pass explains.
                        return;
                    }

                    var copy = current.Clone();
                    copy.Status.Err = failure.Error;
                    tx.Update(copy);

                    // The transaction's own instance: the store stamps its final version on commit.
                    written[index] = tx.Tasks.Get(copy.Id);
                });
            }
        }, cancellationToken);
    }

    private static bool StillAvailable(Node? node) =>
        node is not null && node.Status?.State == NodeState.Ready && (node.Spec?.Availability ?? NodeAvailability.Active) == NodeAvailability.Active;

    private void Summarize(int assigned)
    {
        _assignedSinceSummary += assigned;
        _passesSinceSummary++;
        if (_assignedSinceSummary == 0)
        {
            return;
        }

        var now = _time.GetTimestamp();
        if (_lastSummary != long.MinValue && _time.GetElapsedTime(_lastSummary, now) < _options.SummaryInterval)
        {
            return;
        }

        LogAssigned(_logger, _assignedSinceSummary, _passesSinceSummary);
        _lastSummary = now;
        _assignedSinceSummary = 0;
        _passesSinceSummary = 0;
    }
}
