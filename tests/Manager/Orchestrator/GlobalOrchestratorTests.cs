using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>Global services: one task per eligible node, following nodes as they join, leave, fail, drain and
/// change labels (SwarmKit's global orchestrator scenarios).</summary>
public sealed class GlobalOrchestratorTests
{
    private static List<SwarmTask> ActiveOn(OrchestratorHarness harness, Service service, Node node) =>
        [.. harness.Active(service.Id).Where(t => t.NodeId == node.Id)];

    [Fact]
    public async Task NewService_GetsOneTaskPerEligibleNode_BoundToIt()
    {
        var ready = Node("ready", ("zone", "x"));
        var drained = Node("drained", ("zone", "x"));
        drained.Spec.Availability = NodeAvailability.Drain;
        var down = Node("down", ("zone", "x"));
        down.Status.State = NodeState.Down;
        var elsewhere = Node("elsewhere", ("zone", "y"));
        var service = Global("agent", Constraints("node.labels.zone==x"));

        await using var harness = await StartAsync(ready, drained, down, elsewhere, service);

        await harness.WaitActiveAsync(service.Id, 1);
        var task = harness.Active(service.Id).Single();
        Assert.Equal(ready.Id, task.NodeId);
        Assert.Equal(0, task.Slot);
        Assert.Equal(TaskState.New, task.Status.State);
        Assert.Equal($"agent.{ready.Id}.{task.Id}", task.Annotations.Name);
    }

    [Fact]
    public async Task FollowsNodes_Joining_Draining_ChangingLabels_AndLeaving()
    {
        var a = Node("a", ("zone", "x"));
        var service = Global("agent", Constraints("node.labels.zone==x"));
        await using var harness = await StartAsync(a, service);
        await harness.WaitActiveAsync(service.Id, 1);

        var b = Node("b", ("zone", "x"));
        await harness.CreateAsync(b);
        await harness.WaitAsync(() => ActiveOn(harness, service, b).Count == 1, "a task on the node that joined");
        var onB = ActiveOn(harness, service, b).Single();

        var onA = ActiveOn(harness, service, a).Single();
        await harness.ChangeNodeAsync(a.Id, n => n.Spec.Availability = NodeAvailability.Drain);
        await harness.WaitDesiredAsync(onA.Id, TaskState.Shutdown);

        await harness.ChangeNodeAsync(b.Id, n => n.Spec.Annotations.Labels["zone"] = "y");
        await harness.WaitDesiredAsync(onB.Id, TaskState.Shutdown);
        Assert.Empty(harness.Active(service.Id));

        await harness.ChangeNodeAsync(b.Id, n => n.Spec.Annotations.Labels["zone"] = "x");
        await harness.WaitAsync(() => ActiveOn(harness, service, b).Count == 1, "a new task once the label matches again");
        var again = ActiveOn(harness, service, b).Single();
        Assert.NotEqual(onB.Id, again.Id);

        await harness.DeleteNodeAsync(b.Id);
        // Never assigned: removed, then deleted by the reaper.
        await harness.WaitDeletedAsync(again.Id);
        Assert.Empty(harness.Active(service.Id));
    }

    [Fact]
    public async Task NodeDown_ShutsItsTaskDown_AndItGetsANewOneWhenBack()
    {
        var a = Node("a");
        var service = Global("agent");
        await using var harness = await StartAsync(a, service);
        await harness.WaitActiveAsync(service.Id, 1);
        var first = harness.Active(service.Id).Single();
        await harness.RunOnAsync(first.Id, a.Id);

        await harness.ChangeNodeAsync(a.Id, n => n.Status.State = NodeState.Down);
        await harness.WaitDesiredAsync(first.Id, TaskState.Shutdown);
        Assert.Single(harness.TasksOf(service.Id));

        await harness.ChangeNodeAsync(a.Id, n => n.Status.State = NodeState.Ready);

        await harness.WaitAsync(() => harness.Active(service.Id).Any(t => t.Id != first.Id && t.NodeId == a.Id), "a new task on the node back READY");
    }
}
