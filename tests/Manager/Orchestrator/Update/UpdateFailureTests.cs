using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.Update.UpdateHarness;

namespace Shoal.Manager.Tests.Orchestrator.Update;

/// <summary>New tasks that fail during an update: the failure ratio and each failure action (pause, continue,
/// rollback), and a rollback that fails too (it pauses, never rolls back again).</summary>
public sealed class UpdateFailureTests
{
    private static Node[] Nodes(int count) => [.. Enumerable.Range(1, count).Select(i => OrchestratorHarness.Node($"n{i}"))];

    private static List<SwarmTask> OfImage(IEnumerable<SwarmTask> tasks, string image) => [.. tasks.Where(t => t.Spec.Container.Image == image)];

    /// <summary>A service whose failed tasks are not restarted (keeps the failure count to the update's own tasks).</summary>
    private static Service NoRestarts(Service service)
    {
        service.Spec.Task.Restart = new RestartPolicy { Condition = RestartCondition.None };
        return service;
    }

    [Fact]
    public async Task FailureActionPause_PausesOnTheFirstFailure_NamingTheTaskAndTheCause()
    {
        var service = NoRestarts(Replicated("web", 4, Config(parallelism: 1, action: FailureAction.Pause)));
        await using var harness = await StartAsync(service, 4, Nodes(2));
        harness.Agents.FailingImages.Add("app:2");

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Paused);

        var failed = OfImage(harness.TasksOf(service.Id), "app:2").Single();
        var status = harness.Status(service.Id)!;
        Assert.Equal($"update paused due to failure or early termination of task {failed.Id}: task: non-zero exit (1)", status.Message);
        Assert.Null(status.CompletedAt);
        Assert.Equal(3, OfImage(harness.Running(service.Id), "app:1").Count);

        // Paused stays paused: time passing updates nothing more.
        harness.Inner.Time.Advance(TimeSpan.FromMinutes(1));
        await harness.Inner.ChangeServiceAsync(service.Id, s => s.Spec.Annotations.Labels["touched"] = "yes");
        var touched = harness.Service(service.Id).Meta.Version;
        await harness.WaitAsync(() => harness.Inner.Loops.Updates.PassedVersion >= touched, "an update supervisor pass that saw the change");
        Assert.Single(OfImage(harness.TasksOf(service.Id), "app:2"));
        Assert.Equal(UpdateState.Paused, harness.Status(service.Id)!.State);
    }

    [Fact]
    public async Task NewTaskFailingWithinItsMonitorWindow_CountsAsAFailure()
    {
        var service = Replicated("web", 2, Config(parallelism: 1, delay: TimeSpan.FromSeconds(30), monitor: TimeSpan.FromSeconds(10)));
        await using var harness = await StartAsync(service, 2, Nodes(1));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.WaitAsync(() => OfImage(harness.Running(service.Id), "app:2").Count == 1 && harness.Inner.Loops.Updates.ArmedUntil > 0,
            "slot 1 updated and the delay running");
        var updated = OfImage(harness.Running(service.Id), "app:2").Single();

        harness.Inner.Time.Advance(TimeSpan.FromSeconds(9));
        await harness.Inner.ReportAsync(updated.Id, TaskState.Failed, exitCode: 137);

        await harness.WaitStatusAsync(service.Id, UpdateState.Paused);
        Assert.Equal($"update paused due to failure or early termination of task {updated.Id}: failed (failed)", harness.Status(service.Id)!.Message);
        Assert.Single(OfImage(harness.Running(service.Id), "app:1"));
    }

    [Fact]
    public async Task NewTaskFailingAfterItsMonitorWindow_IsTheRestartPolicys_AndTheUpdateCompletes()
    {
        var service = Replicated("web", 2, Config(parallelism: 1, delay: TimeSpan.FromSeconds(30), monitor: TimeSpan.FromSeconds(10)));
        service.Spec.Task.Restart = new RestartPolicy { Condition = RestartCondition.None };
        await using var harness = await StartAsync(service, 2, Nodes(1));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.WaitAsync(() => OfImage(harness.Running(service.Id), "app:2").Count == 1 && harness.Inner.Loops.Updates.ArmedUntil > 0,
            "slot 1 updated and the delay running");
        var updated = OfImage(harness.Running(service.Id), "app:2").Single();

        harness.Inner.Time.Advance(TimeSpan.FromSeconds(11));
        await harness.Inner.ReportAsync(updated.Id, TaskState.Failed, exitCode: 137);
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal([2L], OfImage(harness.Running(service.Id), "app:2").Select(t => t.Slot));
    }

    [Fact]
    public async Task StartFirst_NewTaskFailing_LeavesTheOldTaskRunning()
    {
        var service = NoRestarts(Replicated("web", 2, Config(parallelism: 1, order: UpdateOrder.StartFirst)));
        await using var harness = await StartAsync(service, 2, Nodes(2));
        var old = harness.Running(service.Id).ToDictionary(t => t.Slot, t => t.Id);
        harness.Agents.FailingImages.Add("app:2");

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Paused);

        Assert.Equal(old.Values.Order(), harness.Running(service.Id).Select(t => t.Id).Order());
        Assert.Single(OfImage(harness.TasksOf(service.Id), "app:2"));
    }

    [Fact]
    public async Task MaxFailureRatio_ToleratesFailuresUpToTheRatio_ThenPauses()
    {
        // Half of 6 slots may fail: the fourth failure pauses; slots 5 and 6 are never attempted.
        var service = NoRestarts(Replicated("web", 6, Config(parallelism: 1, ratio: 0.5f)));
        await using var harness = await StartAsync(service, 6, Nodes(2));
        harness.Agents.FailingImages.Add("app:2");

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Paused);

        Assert.Equal(4, OfImage(harness.TasksOf(service.Id), "app:2").Count);
        Assert.Equal(2, OfImage(harness.Running(service.Id), "app:1").Count);
    }

    [Fact]
    public async Task MaxFailureRatio_FewerFailuresThanTheRatio_Completes()
    {
        var service = NoRestarts(Replicated("web", 4, Config(parallelism: 1, ratio: 0.25f)));
        await using var harness = await StartAsync(service, 4, Nodes(2));
        harness.Agents.Fails = t => t.Spec.Container.Image == "app:2" && t.Slot == 2;

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal([1L, 3L, 4L], OfImage(harness.Running(service.Id), "app:2").Select(t => t.Slot).Order());
        Assert.Equal(TaskState.Failed, OfImage(harness.TasksOf(service.Id), "app:2").Single(t => t.Slot == 2).Status.State);
    }

    [Fact]
    public async Task FailureActionContinue_AttemptsEverySlot_AndCompletes()
    {
        var service = NoRestarts(Replicated("web", 3, Config(parallelism: 1, action: FailureAction.Continue)));
        await using var harness = await StartAsync(service, 3, Nodes(2));
        harness.Agents.FailingImages.Add("app:2");

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        var attempted = OfImage(harness.TasksOf(service.Id), "app:2");
        Assert.Equal([1L, 2L, 3L], attempted.Select(t => t.Slot).Order());
        Assert.All(attempted, t => Assert.Equal(TaskState.Failed, t.Status.State));

        // Completed with failed slots: it does not start over by itself.
        harness.Inner.Time.Advance(TimeSpan.FromMinutes(1));
        await harness.Inner.ChangeServiceAsync(service.Id, s => s.Spec.Annotations.Labels["touched"] = "yes");
        var touched = harness.Service(service.Id).Meta.Version;
        await harness.WaitAsync(() => harness.Inner.Loops.Updates.PassedVersion >= touched, "an update supervisor pass that saw the change");
        Assert.Equal(3, OfImage(harness.TasksOf(service.Id), "app:2").Count);
    }

    [Fact]
    public async Task FailureActionRollback_SwapsThePreviousSpecIn_AndRollsBackWithTheRollbackConfig()
    {
        // The new version fails in slot 3 after slots 1 and 2 took it; the rollback (parallelism 0) returns both at once.
        var service = Replicated("web", 3, Config(parallelism: 1, delay: TimeSpan.FromSeconds(1), action: FailureAction.Rollback));
        service.Spec.Rollback = Config(parallelism: 0);
        await using var harness = await StartAsync(service, 3, Nodes(2));
        harness.Agents.Fails = t => t.Spec.Container.Image == "app:2" && t.Slot == 3;

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.RollbackCompleted);

        var rolledBack = harness.Service(service.Id);
        Assert.Equal("app:1", rolledBack.Spec.Task.Container.Image);
        Assert.Equal("app:2", rolledBack.PreviousSpec.Task.Container.Image);
        Assert.Equal(1UL, rolledBack.SpecVersion);
        Assert.Equal(2UL, rolledBack.PreviousSpecVersion);
        Assert.Equal("rollback completed", rolledBack.UpdateStatus.Message);
        Assert.Subset(OfImage(harness.Running(service.Id), "app:1").Select(t => t.Slot).ToHashSet(), new HashSet<long> { 1, 2 });
        Assert.Empty(OfImage(harness.Running(service.Id), "app:2"));
        var rollbackStart = rolledBack.UpdateStatus.StartedAt.ToDateTimeOffset();
        var returned = OfImage(harness.TasksOf(service.Id), "app:1").Where(t => t.Meta.CreatedAt.ToDateTimeOffset() >= rollbackStart).ToList();
        Assert.Equal([1L, 2L], returned.Where(t => t.Slot != 3).Select(t => t.Slot).Order());
        Assert.Single(returned.Where(t => t.Slot != 3).Select(t => t.Meta.CreatedAt).Distinct());

        // Slot 3's failed task comes back with the rolled-back spec — the orchestrator's restart, or the rollback's
        // replacement of a restart made before the swap — without the restart delay (5 s): the delay holds back a crash
        // loop of one version, not a change of version. The rollback is not complete before it ran for its monitor (1 s).
        Assert.Equal([1L, 2L, 3L], OfImage(harness.Running(service.Id), "app:1").Select(t => t.Slot).Order());
        var completedAt = rolledBack.UpdateStatus.CompletedAt.ToDateTimeOffset();
        Assert.InRange(completedAt - rollbackStart, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task FailureActionRollback_StatusSaysWhichTaskFailedAndWhy_ThenRollbackCompleted()
    {
        var service = NoRestarts(Replicated("web", 3, Config(parallelism: 1, action: FailureAction.Rollback)));
        await using var harness = await StartAsync(service, 3, Nodes(2));
        harness.Agents.Fails = t => t.Spec.Container.Image == "app:2" && t.Slot == 2;
        using var statuses = new StatusHistory(harness.Store, service.Id);

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.RollbackCompleted);

        var failed = OfImage(harness.TasksOf(service.Id), "app:2").Single(t => t.Slot == 2);
        Assert.Equal(
            [
                (UpdateState.Updating, "update in progress"),
                (UpdateState.RollbackStarted, $"update rolled back due to failure or early termination of task {failed.Id}: task: non-zero exit (1)"),
                (UpdateState.RollbackCompleted, "rollback completed"),
            ],
            statuses.States);

        // Slot 1 ran the new version and got the old one back; slot 2's failed task is not restarted (condition none).
        Assert.Equal([1L, 3L], OfImage(harness.Running(service.Id), "app:1").Select(t => t.Slot).Order());
        Assert.Empty(OfImage(harness.Running(service.Id), "app:2"));
    }

    [Fact]
    public async Task FailingRollback_PausesAsRollbackPaused_AndNeverRollsBackAgain()
    {
        var service = NoRestarts(Replicated("web", 3, Config(parallelism: 1, action: FailureAction.Rollback)));
        service.Spec.Rollback = Config(parallelism: 1, action: FailureAction.Rollback);
        await using var harness = await StartAsync(service, 3, Nodes(2));

        // The new version fails in slot 3 (after slots 1 and 2 took it); the old one fails from now on, so the
        // rollback of slot 1 fails too.
        harness.Agents.Fails = t => t.Spec.Container.Image == (t.Slot == 3 ? "app:2" : "app:1");
        using var statuses = new StatusHistory(harness.Store, service.Id);
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.RollbackPaused);

        var paused = harness.Service(service.Id);
        Assert.Equal("app:1", paused.Spec.Task.Container.Image);
        Assert.StartsWith("rollback paused due to failure or early termination of task ", paused.UpdateStatus.Message, StringComparison.Ordinal);
        Assert.EndsWith(": task: non-zero exit (1)", paused.UpdateStatus.Message, StringComparison.Ordinal);

        // No loop: time passing and another pass change neither the spec nor the status.
        harness.Inner.Time.Advance(TimeSpan.FromMinutes(1));
        await harness.Inner.ChangeServiceAsync(service.Id, s => s.Spec.Annotations.Labels["touched"] = "yes");
        var touched = harness.Service(service.Id).Meta.Version;
        await harness.WaitAsync(() => harness.Inner.Loops.Updates.PassedVersion >= touched, "an update supervisor pass that saw the change");
        var after = harness.Service(service.Id);
        Assert.Equal(UpdateState.RollbackPaused, after.UpdateStatus.State);
        Assert.Equal(paused.SpecVersion, after.SpecVersion);
        Assert.Equal([UpdateState.Updating, UpdateState.RollbackStarted, UpdateState.RollbackPaused], statuses.States.Select(s => s.State));
        Assert.Equal(3, OfImage(harness.TasksOf(service.Id), "app:2").Count);
        Assert.Equal([2L], OfImage(harness.Running(service.Id), "app:2").Select(t => t.Slot));
    }

    [Fact]
    public async Task ManualRollback_RollsBackWithTheRollbackConfig_AndCompletes()
    {
        var service = Replicated("web", 3, Config(parallelism: 0));
        service.Spec.Rollback = Config(parallelism: 1, monitor: TimeSpan.FromSeconds(2));
        await using var harness = await StartAsync(service, 3, Nodes(2));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);
        using var sampler = new RunningSampler(harness.Store, service.Id);

        await harness.RollBackAsync(service.Id);
        await harness.DriveToStatusAsync(service.Id, UpdateState.RollbackCompleted);

        Assert.Equal(3, OfImage(harness.Running(service.Id), "app:1").Count);
        Assert.Equal(2, sampler.MinRunningSlots);
        var status = harness.Status(service.Id)!;
        Assert.Equal("rollback completed", status.Message);
        var lastRan = harness.Running(service.Id).Max(t => t.Status.Timestamp.ToDateTimeOffset());
        Assert.True(status.CompletedAt.ToDateTimeOffset() >= lastRan + TimeSpan.FromSeconds(2));
    }
}
