using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>Restart policies (condition, delay, max attempts, window) applied when tasks end, on fake time.</summary>
public sealed class RestartSupervisorTests
{
    /// <summary>Runs the service's single task on <paramref name="node"/>, reports it <paramref name="end"/>, and
    /// waits until the orchestrator shut it down; returns it.</summary>
    private static async Task<SwarmTask> EndActiveTaskAsync(OrchestratorHarness harness, Service service, Node node, TaskState end, int exitCode = 1)
    {
        await harness.WaitActiveAsync(service.Id, 1);
        var task = harness.Active(service.Id).Single();
        await harness.RunOnAsync(task.Id, node.Id);
        await harness.ReportAsync(task.Id, end, exitCode);
        await harness.WaitDesiredAsync(task.Id, TaskState.Shutdown);
        return task;
    }

    [Fact]
    public async Task FailedTask_IsReplacedInItsSlot_StartedAfterTheDefaultDelay()
    {
        var node = Node("a");
        var service = Replicated("web", 1);
        await using var harness = await StartAsync(node, service);

        var failed = await EndActiveTaskAsync(harness, service, node, TaskState.Failed);

        var replacement = harness.Active(service.Id).Single();
        Assert.Equal(failed.Slot, replacement.Slot);
        Assert.Equal(TaskState.Ready, replacement.DesiredState);
        await harness.WaitRestartTimerAsync(harness.Time.GetUtcNow() + TimeSpan.FromSeconds(5));
        harness.Time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(0, harness.Loops.Restarts.Promotions);
        Assert.Equal(TaskState.Ready, harness.Get(replacement.Id).DesiredState);

        harness.Time.Advance(TimeSpan.FromSeconds(1));

        await harness.WaitDesiredAsync(replacement.Id, TaskState.Running);
    }

    [Fact]
    public async Task OnFailure_ReplacesAFailedTask_NotACompletedOne()
    {
        var node = Node("a");
        var service = Replicated("web", 2, Restart(RestartCondition.OnFailure));
        await using var harness = await StartAsync(node, service);
        await harness.WaitActiveAsync(service.Id, 2);
        await harness.RunAllAsync(service.Id, node.Id);
        var bySlot = harness.TasksOf(service.Id).ToDictionary(t => t.Slot);

        await harness.ReportAsync(bySlot[1].Id, TaskState.Complete, exitCode: 0);
        await harness.ReportAsync(bySlot[2].Id, TaskState.Failed, exitCode: 2);

        await harness.WaitDesiredAsync(bySlot[1].Id, TaskState.Shutdown);
        await harness.WaitAsync(() => harness.Active(service.Id).Any(t => t.Slot == 2), "a replacement in slot 2");
        Assert.Single(harness.TasksOf(service.Id), t => t.Slot == 1);
        Assert.Single(harness.Active(service.Id));
    }

    [Fact]
    public async Task ConditionNone_ReplacesNothing_AndTheSlotStaysFilled()
    {
        var node = Node("a");
        var service = Replicated("web", 1, Restart(RestartCondition.None));
        await using var harness = await StartAsync(node, service);

        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);

        Assert.Single(harness.TasksOf(service.Id));
        Assert.Empty(harness.Active(service.Id));

        // A later reconcile of the service (any change) does not refill the slot either.
        var passes = harness.Loops.Replicated.PassesCompleted;
        await harness.ChangeServiceAsync(service.Id, s => s.Spec.Annotations.Labels["touched"] = "yes");
        await harness.WaitAsync(() => harness.Loops.Replicated.PassesCompleted > passes, "a pass after the service changed");
        Assert.Single(harness.TasksOf(service.Id));
    }

    [Fact]
    public async Task MaxAttempts_StopsReplacingAfterTheLimit()
    {
        var node = Node("a");
        var service = Replicated("web", 1, Restart(maxAttempts: 2));
        await using var harness = await StartAsync(node, service);

        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);
        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);
        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);

        Assert.Equal(3, harness.TasksOf(service.Id).Count);
        Assert.Empty(harness.Active(service.Id));
    }

    [Fact]
    public async Task Window_CountsOnlyTheRestartsWithinIt()
    {
        var node = Node("a");
        var service = Replicated("web", 1, Restart(maxAttempts: 1, window: TimeSpan.FromSeconds(10)));
        await using var harness = await StartAsync(node, service);

        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);

        // The replacement runs for 20 s before failing: the restart it was is outside the window by then.
        await harness.WaitActiveAsync(service.Id, 1);
        var first = harness.Active(service.Id).Single();
        await harness.RunOnAsync(first.Id, node.Id);
        harness.Time.Advance(TimeSpan.FromSeconds(20));
        await harness.ReportAsync(first.Id, TaskState.Failed);
        await harness.WaitDesiredAsync(first.Id, TaskState.Shutdown);

        // That one fails at once: one restart within the window already.
        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);

        Assert.Equal(3, harness.TasksOf(service.Id).Count);
        Assert.Empty(harness.Active(service.Id));
    }

    [Fact]
    public async Task PendingDelay_IsResumedByTheNextLeader()
    {
        var node = Node("a");
        var service = Replicated("web", 1, Restart(delay: TimeSpan.FromSeconds(30)));
        await using var harness = await StartAsync(node, service);
        await EndActiveTaskAsync(harness, service, node, TaskState.Failed);
        var replacement = harness.Active(service.Id).Single();
        Assert.Equal(TaskState.Ready, replacement.DesiredState);

        await harness.StopLoopsAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(30));
        await harness.StartLoopsAsync();

        await harness.WaitDesiredAsync(replacement.Id, TaskState.Running);
        Assert.Single(harness.Active(service.Id));
    }

    [Fact]
    public async Task GlobalTask_IsReplacedOnTheSameNode()
    {
        var node = Node("a");
        var service = Global("agent", Restart());
        await using var harness = await StartAsync(node, service);

        var failed = await EndActiveTaskAsync(harness, service, node, TaskState.Rejected);

        await harness.WaitActiveAsync(service.Id, 1);
        var replacement = harness.Active(service.Id).Single();
        Assert.NotEqual(failed.Id, replacement.Id);
        Assert.Equal(node.Id, replacement.NodeId);
        Assert.Equal(TaskState.Running, replacement.DesiredState);
    }

    [Fact]
    public async Task DelayedReplacement_WaitsForTheTaskItReplacesToStop_OrTheTimeout()
    {
        var node = Node("a");
        var service = Replicated("web", 2, Restart(delay: TimeSpan.FromSeconds(1)));
        await using var harness = await StartAsync(node, service);
        await harness.WaitActiveAsync(service.Id, 2);
        await harness.RunAllAsync(service.Id, node.Id);
        var bySlot = harness.Active(service.Id).ToDictionary(t => t.Slot);

        // Replacements prepared while the tasks they replace are still stopping (as a stop-first update leaves them).
        var replacements = new List<SwarmTask>();
        foreach (var slot in new[] { 1L, 2L })
        {
            var next = Shoal.TestKit.Objects.Task(service, slot, desired: TaskState.Ready);
            next.SpecVersion = 1;
            replacements.Add(next);
            await harness.Store.UpdateAsync(tx =>
            {
                var old = tx.Tasks.Get(bySlot[slot].Id)!.Clone();
                old.DesiredState = TaskState.Shutdown;
                tx.Update(old);
                tx.Create(next);
            });
        }

        var due = harness.Time.GetUtcNow() + TimeSpan.FromSeconds(1);
        await harness.WaitRestartTimerAsync(due);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        await harness.WaitRestartTimerAsync(due + TimeSpan.FromMinutes(1));
        Assert.All(replacements, r => Assert.Equal(TaskState.Ready, harness.Get(r.Id).DesiredState));

        // Slot 1's old task stops: its replacement starts. Slot 2's never reports: its replacement starts a minute later.
        await harness.ReportAsync(bySlot[1].Id, TaskState.Shutdown);
        await harness.WaitDesiredAsync(replacements[0].Id, TaskState.Running);
        Assert.Equal(TaskState.Ready, harness.Get(replacements[1].Id).DesiredState);

        await harness.WaitRestartTimerAsync(due + TimeSpan.FromMinutes(1));
        harness.Time.Advance(TimeSpan.FromMinutes(1));

        await harness.WaitDesiredAsync(replacements[1].Id, TaskState.Running);
        Assert.Equal(2, harness.Active(service.Id).Count);
    }
}
