using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>Replicated and global jobs: run to completion, at most max_concurrent at once, again per iteration.</summary>
public sealed class JobTests
{
    private static Service ReplicatedJob(string name, long maxConcurrent, long totalCompletions)
    {
        var service = Replicated(name, 0, Restart());
        service.Spec.ReplicatedJob = new ReplicatedJob { MaxConcurrent = maxConcurrent, TotalCompletions = totalCompletions };
        service.JobStatus = new JobStatus { JobIteration = 0 };
        return service;
    }

    [Fact]
    public async Task ReplicatedJob_RunsUntilTotalCompletions_AtMostMaxConcurrentAtOnce()
    {
        var node = Node("a");
        var job = ReplicatedJob("migrate", maxConcurrent: 2, totalCompletions: 5);
        await using var harness = await StartAsync(node, job);

        for (var completed = 0; completed < 5; completed++)
        {
            var expected = Math.Min(2, 5 - completed);
            await harness.WaitActiveAsync(job.Id, expected);
            var task = harness.Active(job.Id).OrderBy(t => t.Slot).First();
            Assert.Equal(0UL, task.JobIteration);
            Assert.True(task.HasJobIteration);
            await harness.RunOnAsync(task.Id, node.Id);
            await harness.ReportAsync(task.Id, TaskState.Complete, exitCode: 0);
        }

        var passes = harness.Loops.Replicated.PassesCompleted;
        await harness.WaitAsync(() => harness.Loops.Replicated.PassesCompleted > passes, "a pass after the last completion");
        Assert.Empty(harness.Active(job.Id));
        Assert.Equal(5, harness.TasksOf(job.Id).Count);
        Assert.All(harness.TasksOf(job.Id), t => Assert.Equal(TaskState.Complete, t.Status.State));
    }

    [Fact]
    public async Task ReplicatedJob_FailedTask_IsRetriedInItsSlot_CompletedOneIsNot()
    {
        var node = Node("a");
        var job = ReplicatedJob("migrate", maxConcurrent: 1, totalCompletions: 1);
        await using var harness = await StartAsync(node, job);
        await harness.WaitActiveAsync(job.Id, 1);
        var first = harness.Active(job.Id).Single();
        await harness.RunOnAsync(first.Id, node.Id);

        await harness.ReportAsync(first.Id, TaskState.Failed, exitCode: 3);

        await harness.WaitDesiredAsync(first.Id, TaskState.Shutdown);
        var retry = harness.Active(job.Id).Single();
        Assert.Equal(first.Slot, retry.Slot);
        await harness.RunOnAsync(retry.Id, node.Id);
        // Read before the report: the pass that follows the completion is the one to wait for.
        var passes = harness.Loops.Replicated.PassesCompleted;
        await harness.ReportAsync(retry.Id, TaskState.Complete, exitCode: 0);
        await harness.WaitAsync(() => harness.Loops.Replicated.PassesCompleted > passes, "a pass after the completion");
        Assert.Equal(2, harness.TasksOf(job.Id).Count);
        Assert.Empty(harness.Active(job.Id));
    }

    [Fact]
    public async Task GlobalJob_RunsOncePerNode_AndAgainForANewIteration()
    {
        var a = Node("a");
        var b = Node("b");
        var job = Global("scan", Restart());
        job.Spec.GlobalJob = new GlobalJob();
        job.JobStatus = new JobStatus { JobIteration = 0 };
        await using var harness = await StartAsync(a, b, job);
        await harness.WaitActiveAsync(job.Id, 2);
        var active = harness.Active(job.Id);
        var passes = 0;
        foreach (var task in active)
        {
            await harness.RunOnAsync(task.Id, task.NodeId);
            // Read before the last report: the pass that follows the completions is the one to wait for.
            passes = harness.Loops.Global.PassesCompleted;
            await harness.ReportAsync(task.Id, TaskState.Complete, exitCode: 0);
        }

        await harness.WaitAsync(() => harness.Loops.Global.PassesCompleted > passes, "a pass after the completions");
        Assert.Empty(harness.Active(job.Id));
        Assert.Equal(2, harness.TasksOf(job.Id).Count);

        await harness.ChangeServiceAsync(job.Id, s => s.JobStatus.JobIteration = 1);

        await harness.WaitActiveAsync(job.Id, 2);
        var rerun = harness.Active(job.Id);
        Assert.All(rerun, t => Assert.Equal(1UL, t.JobIteration));
        Assert.Equal(new[] { a.Id, b.Id }.Order(), rerun.Select(t => t.NodeId).Order());
    }
}
