using Shoal.Api;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>The task reaper: history per slot (the cluster's limit), and removal of a deleted service's tasks.</summary>
public sealed class TaskReaperTests
{
    /// <summary>Fails the service's active task <paramref name="times"/> times, each time waiting for its replacement;
    /// returns the failed tasks, oldest first.</summary>
    private static async Task<List<SwarmTask>> FailRepeatedlyAsync(OrchestratorHarness harness, Service service, Node node, int times)
    {
        var failed = new List<SwarmTask>();
        for (var i = 0; i < times; i++)
        {
            await harness.WaitActiveAsync(service.Id, 1);
            var task = harness.Active(service.Id).Single();
            await harness.RunOnAsync(task.Id, node.Id);
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            await harness.ReportAsync(task.Id, TaskState.Failed);
            await harness.WaitDesiredAsync(task.Id, TaskState.Shutdown);
            failed.Add(task);
        }

        await harness.WaitActiveAsync(service.Id, 1);
        return failed;
    }

    [Fact]
    public async Task History_KeepsTheFiveNewestStoppedTasksPerSlot_ByDefault()
    {
        var node = Node("a");
        var service = Replicated("web", 1, Restart());
        await using var harness = await StartAsync(node, service);

        var failed = await FailRepeatedlyAsync(harness, service, node, 7);

        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count == 6, "5 old tasks and the running one");
        var kept = harness.TasksOf(service.Id).Select(t => t.Id).ToHashSet();
        Assert.DoesNotContain(failed[0].Id, kept);
        Assert.DoesNotContain(failed[1].Id, kept);
        Assert.Subset(kept, failed.Skip(2).Select(t => t.Id).ToHashSet());
    }

    [Fact]
    public async Task History_FollowsTheClustersRetentionLimit_AlsoWhenItChanges()
    {
        var node = Node("a");
        var cluster = Objects.Cluster();
        cluster.Spec.Orchestration = new OrchestrationConfig { TaskHistoryRetentionLimit = 2 };
        var service = Replicated("web", 1, Restart());
        await using var harness = await StartAsync(cluster, node, service);

        var failed = await FailRepeatedlyAsync(harness, service, node, 4);
        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count == 3, "2 old tasks and the running one");
        Assert.Equal(failed.Skip(2).Select(t => t.Id).Order(), harness.TasksOf(service.Id).Where(t => t.DesiredState == TaskState.Shutdown).Select(t => t.Id).Order());

        await harness.Store.UpdateAsync(tx =>
        {
            var copy = tx.Clusters.Get(cluster.Id)!.Clone();
            copy.Spec.Orchestration.TaskHistoryRetentionLimit = 0;
            tx.Update(copy);
        });

        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count == 1, "no history, only the running task");
    }

    [Fact]
    public async Task DeletedService_TasksAreRemoved_ThenDeletedOnceStoppedOrTheirNodeIsDown()
    {
        var a = Node("a");
        var b = Node("b");
        var service = Replicated("web", 3);
        await using var harness = await StartAsync(a, b, service);
        await harness.WaitActiveAsync(service.Id, 3);
        var bySlot = harness.TasksOf(service.Id).ToDictionary(t => t.Slot);
        await harness.RunOnAsync(bySlot[1].Id, a.Id);
        await harness.RunOnAsync(bySlot[2].Id, b.Id);

        await harness.DeleteServiceAsync(service.Id);

        // Slot 3 never reached a node: deleted at once. The running ones stop first.
        await harness.WaitDeletedAsync(bySlot[3].Id);
        await harness.WaitDesiredAsync(bySlot[1].Id, TaskState.Remove);
        await harness.WaitDesiredAsync(bySlot[2].Id, TaskState.Remove);

        await harness.ReportAsync(bySlot[1].Id, TaskState.Shutdown);
        await harness.WaitDeletedAsync(bySlot[1].Id);
        Assert.Equal(TaskState.Remove, harness.Get(bySlot[2].Id).DesiredState);

        await harness.ChangeNodeAsync(b.Id, n => n.Status.State = NodeState.Down);
        await harness.WaitDeletedAsync(bySlot[2].Id);
    }
}
