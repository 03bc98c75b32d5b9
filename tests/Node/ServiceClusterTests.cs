using Shoal.DockerApi.Model;

namespace Shoal.Node.Tests;

/// <summary>
/// Services on in-process swarms (DESIGN §12, in-process cluster level): real nodes with their control loops, real
/// gRPC over mutual TLS and Raft on disk, tasks in a <see cref="TestKit.FakeExecutor"/> per node, all driven
/// through a manager's Docker API. Heartbeats are 1 s (the shortest the cluster spec accepts), so a stopped node is
/// DOWN after about 3 s.
/// </summary>
public sealed class ServiceClusterTests : IAsyncDisposable
{
    private const string OnWorkers = "node.role==worker";
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    private readonly FakeHosts _hosts = new();
    private readonly NodeFixture _fixture;

    public ServiceClusterTests() => _fixture = new NodeFixture(_hosts.ExecutorFor);

    public ValueTask DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task AReplicatedService_RunsItsReplicasSpreadOverTheEligibleNodes_AndItsStatusCountsThem()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];

        var id = await manager.CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));

        var tasks = await manager.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING");
        Assert.Equal([1L, 2, 3, 4], tasks.Select(t => t.Slot).Order());
        var workerIds = workers.Select(w => w.Running.NodeId!).ToHashSet();
        Assert.All(tasks, t => Assert.Contains(t.NodeID!, workerIds));
        Assert.All(tasks.GroupBy(t => t.NodeID), g => Assert.Equal(2, g.Count()));
        Assert.Equal(2, tasks.Select(t => t.NodeID).Distinct().Count());
        foreach (var worker in workers)
        {
            var onIt = tasks.Where(t => t.NodeID == worker.Running.NodeId).ToList();
            Assert.All(onIt, t => Assert.True(_hosts[worker].Knows(t.ID) && _hosts[worker][t.ID].Started, $"task {t.ID} started on {worker.Name}'s host"));
        }

        Assert.All(tasks, t => Assert.False(_hosts[manager].Knows(t.ID)));
        await manager.WaitServiceStatusAsync(id, running: 4, desired: 4);
    }

    [Fact]
    public async Task ScalingUpAndDown_KeepsTheRunningTasksInTheirSlots_AndStopsAndDeletesTheSurplus()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];
        var id = await manager.CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));
        var first = await manager.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING");
        var bySlot = first.ToDictionary(t => t.Slot, t => t.ID);

        await manager.ScaleAsync(id, 6);
        var six = await manager.WaitTasksAsync(id, t => t.Running().Count == 6, "6 tasks RUNNING after scaling to 6");
        Assert.Equal(6, six.Count);
        Assert.Equal([1L, 2, 3, 4, 5, 6], six.Select(t => t.Slot).Order());
        Assert.All(bySlot, s => Assert.Equal(s.Value, six.Single(t => t.Slot == s.Key).ID));
        Assert.All(six.GroupBy(t => t.NodeID), g => Assert.Equal(3, g.Count()));

        await manager.ScaleAsync(id, 2);
        var two = await manager.WaitTasksAsync(id, t => t.Count == 2 && t.Running().Count == 2, "only 2 tasks left, RUNNING, after scaling to 2");

        // Nodes hold 3 each, so the highest slots go; the two kept are the very tasks started first.
        Assert.Equal([1L, 2], two.Select(t => t.Slot).Order());
        Assert.Equal([bySlot[1], bySlot[2]], two.OrderBy(t => t.Slot).Select(t => t.ID));
        var removed = six.Where(t => t.Slot > 2).Select(t => t.ID).ToList();
        Assert.All(removed, taskId => Assert.True(_hosts.Process(taskId).HasExited, $"the fake process of removed task {taskId} was stopped"));
        Assert.All(two, t => Assert.False(_hosts.Process(t.ID).HasExited));
    }

    [Fact]
    public async Task DrainingAWorker_MovesItsTasksToTheOther_AndReactivatingItMovesNothingBack()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];
        var (drained, other) = (workers[0], workers[1]);
        var (drainedId, otherId) = (drained.Running.NodeId!, other.Running.NodeId!);
        var id = await manager.CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));
        var before = await manager.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING");
        var wereOnDrained = before.Where(t => t.NodeID == drainedId).ToList();
        Assert.Equal(2, wereOnDrained.Count);

        await manager.SetAvailabilityAsync(drainedId, NodeAvailabilities.Drain);

        var after = await manager.WaitTasksAsync(
            id,
            t => t.Running().Count == 4 && t.Running().All(r => r.NodeID == otherId) && wereOnDrained.All(d => t.Single(x => x.ID == d.ID).Status.State == TaskStates.Shutdown),
            "4 tasks RUNNING on the other worker and the drained worker's tasks SHUTDOWN");
        Assert.Equal([1L, 2, 3, 4], after.Running().Select(t => t.Slot).Order());
        Assert.All(wereOnDrained, d => Assert.Contains(after.Running(), t => t.Slot == d.Slot && t.NodeID == otherId));
        Assert.All(wereOnDrained, d => Assert.True(_hosts[drained][d.ID].HasExited, $"the drained worker's task {d.ID} was stopped"));
        var running = after.Running().Select(t => t.ID).ToHashSet();

        // Active again: Docker does not rebalance. Only a new task (the 5th replica) goes to the emptier node.
        await manager.SetAvailabilityAsync(drainedId, NodeAvailabilities.Active);
        await NodeFixture.WaitAsync(manager, n => n.Single(x => x.ID == drainedId).Spec.Availability == NodeAvailabilities.Active, "the worker ACTIVE again");
        await manager.ScaleAsync(id, 5);
        var five = await manager.WaitTasksAsync(id, t => t.Running().Count == 5, "5 tasks RUNNING after scaling to 5");
        Assert.Subset(five.Running().Select(t => t.ID).ToHashSet(), running);
        Assert.Equal(drainedId, five.Running().Single(t => !running.Contains(t.ID)).NodeID);
    }

    [Fact]
    public async Task ATaskThatExitsNonZero_FailsWithItsExitCode_AndIsReplacedInItsSlotUnlessItsRestartConditionIsNone()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat, taskHistory: 1);
        var manager = managers[0];
        var always = await manager.CreateServiceAsync(ServiceApi.Replicated("always", 1, RestartConditions.Any, TimeSpan.FromMilliseconds(200), OnWorkers));
        var once = await manager.CreateServiceAsync(ServiceApi.Replicated("once", 1, RestartConditions.None, TimeSpan.FromMilliseconds(200), OnWorkers));
        var alwaysTask = (await manager.WaitTasksAsync(always, t => t.Running().Count == 1, "always: 1 task RUNNING")).Single();
        var onceTask = (await manager.WaitTasksAsync(once, t => t.Running().Count == 1, "once: 1 task RUNNING")).Single();

        _hosts.Process(onceTask.ID).Exit(3);
        _hosts.Process(alwaysTask.ID).Exit(3);

        var failed = (await manager.WaitTasksAsync(always, t => t.Any(x => x.ID == alwaysTask.ID && x.Status.State == TaskStates.Failed), "always: its task FAILED")).Single(t => t.ID == alwaysTask.ID);
        Assert.Equal("task: non-zero exit (3)", failed.Status.Err);
        Assert.Equal(3, failed.Status.ContainerStatus?.ExitCode);
        var replaced = await manager.WaitTasksAsync(always, t => t.Running().Any(x => x.ID != alwaysTask.ID), "always: a replacement RUNNING");
        Assert.Equal(1, replaced.Running().Single().Slot);
        Assert.Equal(alwaysTask.Slot, replaced.Running().Single().Slot);

        // The replacement of "always" ran after the same restart delay: by now "once" would have one too.
        var onceTasks = await manager.TasksAsync(once);
        var onceFailed = Assert.Single(onceTasks);
        Assert.Equal((TaskStates.Failed, "task: non-zero exit (3)"), (onceFailed.Status.State, onceFailed.Status.Err));
        Assert.Equal(TaskStates.Shutdown, onceFailed.DesiredState);

        // A crash loop: each failure replaced in slot 1, and the slot's history reaped to the cluster's limit (1).
        for (var i = 0; i < 3; i++)
        {
            var current = (await manager.WaitTasksAsync(always, t => t.Running().Count == 1, "always: 1 task RUNNING")).Running().Single();
            _hosts.Process(current.ID).Exit(1);
            await manager.WaitTasksAsync(always, t => t.Running().Any(x => x.ID != current.ID), $"always: crash {i + 1} replaced");
        }

        var history = await manager.WaitTasksAsync(always, t => t.Count == 2, "always: one running task and one in its history");
        Assert.All(history, t => Assert.Equal(1, t.Slot));
        Assert.Single(history, t => t.Status.State == TaskStates.Failed && t.Status.Err == "task: non-zero exit (1)");
        Assert.Single(history.Running());
    }

    [Fact]
    public async Task AGlobalService_RunsOneTaskPerEligibleNode_IncludingOneThatJoinsLater_AndLeavesADrainedNode()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];
        var id = await manager.CreateServiceAsync(ServiceApi.Global("agent", OnWorkers));
        var two = await manager.WaitTasksAsync(id, t => t.Running().Count == 2, "one task RUNNING on each of the 2 workers");
        Assert.Equal(workers.Select(w => w.Running.NodeId).Order(), two.Running().Select(t => t.NodeID).Order());

        var late = await _fixture.StartNodeAsync("w3");
        await late.JoinAsync(await manager.JoinTokenAsync(manager: false), manager);
        var lateId = late.Running.NodeId!;
        var three = await manager.WaitTasksAsync(id, t => t.Running().Count == 3, "one task RUNNING on each of the 3 workers");
        Assert.Single(three.Running(), t => t.NodeID == lateId);
        Assert.Equal(3, three.Running().Select(t => t.NodeID).Distinct().Count());

        var drainedId = workers[0].Running.NodeId!;
        var drainedTask = three.Running().Single(t => t.NodeID == drainedId);
        await manager.SetAvailabilityAsync(drainedId, NodeAvailabilities.Drain);
        var after = await manager.WaitTasksAsync(
            id,
            t => t.Running().Count == 2 && t.Single(x => x.ID == drainedTask.ID).Status.State == TaskStates.Shutdown,
            "the drained worker's task SHUTDOWN, the 2 others RUNNING");
        Assert.DoesNotContain(after, t => t.NodeID == drainedId && t.DesiredState == TaskStates.Running);
        Assert.True(_hosts[workers[0]][drainedTask.ID].HasExited);
    }

    [Fact]
    public async Task AWorkerThatStops_IsDownAfterTheHeartbeatTimeout_AndItsTasksAreReplacedOnTheOther()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];
        var (lost, kept) = (workers[0], workers[1]);
        var (lostId, keptId) = (lost.Running.NodeId!, kept.Running.NodeId!);
        var id = await manager.CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));
        await manager.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING");

        await lost.StopAsync();

        await NodeFixture.WaitAsync(manager, n => n.Single(x => x.ID == lostId).Status.State == NodeStates.Down, "the stopped worker DOWN");
        var after = await manager.WaitTasksAsync(id, t => t.Running().Count == 4 && t.Running().All(r => r.NodeID == keptId), "4 tasks RUNNING on the remaining worker");
        Assert.Equal([1L, 2, 3, 4], after.Running().Select(t => t.Slot).Order());
        Assert.DoesNotContain(after, t => t.NodeID == lostId && t.DesiredState == TaskStates.Running);
        await manager.WaitServiceStatusAsync(id, running: 4, desired: 4);
    }

    [Fact]
    public async Task RemovingAService_StopsEveryProcess_AndDeletesAllItsTasks()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 1, workers: 2, Heartbeat);
        var manager = managers[0];
        var id = await manager.CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));
        var tasks = await manager.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING");

        await manager.RemoveServiceAsync(id);

        await manager.WaitTasksAsync(id, t => t.Count == 0, "every task of the removed service deleted");
        await ServiceApi.WaitAsync(() => tasks.All(t => _hosts.Process(t.ID).Removed), "every fake process of the removed service stopped and removed");
        Assert.All(tasks, t => Assert.True(_hosts.Process(t.ID).HasExited));
        Assert.Equal(404, (await manager.SendAsync(HttpMethod.Get, $"/v1.50/services/{id}")).Status);
    }

    [Fact]
    public async Task AfterALeaderFailover_TheServiceKeepsRunning_AndTheNewLeaderScalesIt()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 3, workers: 2, Heartbeat);
        var id = await managers[0].CreateServiceAsync(ServiceApi.Replicated("web", 4, constraints: OnWorkers));
        var before = (await managers[0].WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING")).Running().Select(t => t.ID).ToHashSet();
        var leaderId = (await managers[0].NodesAsync()).Single(n => n.ManagerStatus?.Leader == true).ID;
        var leader = managers.Single(m => m.Running.NodeId == leaderId);
        var survivor = managers.First(m => m != leader);

        await leader.StopAsync();

        var nodes = await NodeFixture.WaitAsync(
            survivor,
            n => n.SingleOrDefault(x => x.ManagerStatus?.Leader == true) is { } l && l.ID != leaderId
                && workers.All(w => n.Single(x => x.ID == w.Running.NodeId).Status.State == NodeStates.Ready),
            "a new leader, and both workers READY for it");
        var newLeader = managers.Single(m => m.Node is not null && m.Running.NodeId == nodes.Single(n => n.ManagerStatus?.Leader == true).ID);
        var kept = await newLeader.WaitTasksAsync(id, t => t.Running().Count == 4, "4 tasks RUNNING under the new leader");
        Assert.Equal(before, kept.Running().Select(t => t.ID).ToHashSet());
        await newLeader.WaitServiceStatusAsync(id, running: 4, desired: 4);

        await survivor.ScaleAsync(id, 6);
        var after = await newLeader.WaitTasksAsync(id, t => t.Running().Count == 6, "6 tasks RUNNING after scaling through the new leader's cluster");
        Assert.Subset(after.Running().Select(t => t.ID).ToHashSet(), before);
        Assert.Equal([1L, 2, 3, 4, 5, 6], after.Running().Select(t => t.Slot).Order());
        Assert.All(after.Running().GroupBy(t => t.NodeID), g => Assert.Equal(3, g.Count()));
    }
}
