using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.Update.UpdateHarness;

namespace Shoal.Manager.Tests.Orchestrator.Update;

/// <summary>Rolling updates of replicated and global services: batches, delay, order, the monitor window and the
/// status the docker CLI reads (SwarmKit's updater scenarios), on fake time with stand-in agents.</summary>
public sealed class UpdateSupervisorTests
{
    private static Node[] Nodes(int count) => [.. Enumerable.Range(1, count).Select(i => OrchestratorHarness.Node($"n{i}"))];

    private static List<SwarmTask> OfImage(IEnumerable<SwarmTask> tasks, string image) => [.. tasks.Where(t => t.Spec.Container.Image == image)];

    /// <summary>The new tasks grouped into the batches that created them (same creation time), oldest first.</summary>
    private static List<List<SwarmTask>> Batches(IEnumerable<SwarmTask> tasks) =>
        [.. tasks.GroupBy(t => t.Meta.CreatedAt.ToDateTimeOffset()).OrderBy(g => g.Key).Select(g => g.ToList())];

    [Fact]
    public async Task Parallelism1_StopFirst_ReplacesOneSlotAtATime()
    {
        var service = Replicated("web", 4, Config(parallelism: 1, delay: TimeSpan.FromSeconds(1)));
        await using var harness = await StartAsync(service, 4, Nodes(2));
        var old = harness.TasksOf(service.Id).Select(t => t.Id).ToHashSet();
        using var sampler = new RunningSampler(harness.Store, service.Id);

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        var running = harness.Running(service.Id);
        Assert.Equal([1L, 2L, 3L, 4L], running.Select(t => t.Slot).Order());
        Assert.All(running, t => Assert.Equal("app:2", t.Spec.Container.Image));
        Assert.All(old, id => Assert.Equal(TaskState.Shutdown, harness.Inner.Get(id).Status.State));
        var batches = Batches(OfImage(harness.TasksOf(service.Id), "app:2"));
        Assert.Equal([1, 1, 1, 1], batches.Select(b => b.Count));
        Assert.Equal(3, sampler.MinRunningSlots);

        // The replicated orchestrator added no task of its own to a slot being replaced: one old, one new per slot.
        Assert.All(harness.TasksOf(service.Id).GroupBy(t => t.Slot), slot => Assert.Equal(2, slot.Count()));
        var status = harness.Status(service.Id)!;
        Assert.Equal("update completed", status.Message);
        Assert.True(status.CompletedAt.ToDateTimeOffset() >= status.StartedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task Parallelism2_StopFirst_NeverHasMoreThanTwoSlotsDown_AndWaitsTheDelayBetweenBatches()
    {
        var delay = TimeSpan.FromSeconds(2);
        var monitor = TimeSpan.FromSeconds(1);
        var service = Replicated("web", 10, Config(parallelism: 2, delay: delay, monitor: monitor));
        await using var harness = await StartAsync(service, 10, Nodes(3));
        using var sampler = new RunningSampler(harness.Store, service.Id);
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        var start = harness.Inner.Time.GetUtcNow();
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal(8, sampler.MinRunningSlots);
        var batches = Batches(OfImage(harness.TasksOf(service.Id), "app:2"));
        Assert.Equal([2, 2, 2, 2, 2], batches.Select(b => b.Count));
        for (var i = 1; i < batches.Count; i++)
        {
            var previousRan = batches[i - 1].Max(t => t.Status.Timestamp.ToDateTimeOffset());
            Assert.True(batches[i][0].Meta.CreatedAt.ToDateTimeOffset() >= previousRan + delay, $"batch {i + 1} started before the delay");
        }

        // The agents start tasks at once (1 ms a step): 4 delays and the last monitor window are the whole update.
        var lastRan = batches[^1].Max(t => t.Status.Timestamp.ToDateTimeOffset());
        var status = harness.Status(service.Id)!;
        Assert.True(status.CompletedAt.ToDateTimeOffset() >= lastRan + monitor);
        var took = status.CompletedAt.ToDateTimeOffset() - start;
        Assert.InRange(took, (4 * delay) + monitor, (4 * delay) + monitor + TimeSpan.FromMilliseconds(100));
        TestContext.Current.SendDiagnosticMessage($"10 replicas, parallelism 2, delay 2 s, monitor 1 s: completed {took.TotalSeconds:0.000} s (fake time) after the update; minimum 9 s");
    }

    [Fact]
    public async Task Parallelism0_ReplacesEverySlotAtOnce()
    {
        var service = Replicated("web", 4, Config(parallelism: 0));
        await using var harness = await StartAsync(service, 4, Nodes(2));

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        var batches = Batches(OfImage(harness.TasksOf(service.Id), "app:2"));
        Assert.Equal([4], batches.Select(b => b.Count));
        Assert.Equal(4, OfImage(harness.Running(service.Id), "app:2").Count);
    }

    [Fact]
    public async Task StartFirst_NeverHasFewerThanTheReplicasRunning()
    {
        var service = Replicated("web", 10, Config(parallelism: 2, delay: TimeSpan.FromSeconds(2), order: UpdateOrder.StartFirst));
        await using var harness = await StartAsync(service, 10, Nodes(3));
        using var sampler = new RunningSampler(harness.Store, service.Id);

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal(10, sampler.MinRunningSlots);
        Assert.InRange(sampler.MaxRunningTasks, 11, 12);
        Assert.Equal(10, OfImage(harness.Running(service.Id), "app:2").Count);
        Assert.Equal([2, 2, 2, 2, 2], Batches(OfImage(harness.TasksOf(service.Id), "app:2")).Select(b => b.Count));
    }

    [Fact]
    public async Task StopFirst_StartsTheNewTaskOnceTheOldStopped_WithoutTheRestartDelay()
    {
        // The default restart delay (5 s) applies to READY replacements; an update's replacement must not wait for it.
        var service = Replicated("web", 1, Config());
        await using var inner = await OrchestratorHarness.StartAsync(OrchestratorHarness.Node("a"), service);
        await inner.WaitActiveAsync(service.Id, 1);
        var node = inner.Store.View().Nodes.All().Single();
        await inner.RunAllAsync(service.Id, node.Id);
        var old = inner.Active(service.Id).Single();
        await Shoal.TestKit.Eventually.TrueAsync(() => inner.Store.WatcherCount >= 6, "the six loops");

        await inner.ChangeServiceAsync(service.Id, s =>
        {
            s.PreviousSpec = s.Spec.Clone();
            s.PreviousSpecVersion = s.SpecVersion;
            s.Spec.Task.Container.Image = "app:2";
            s.SpecVersion = 2;
        });

        await inner.WaitDesiredAsync(old.Id, TaskState.Shutdown);
        var replacement = inner.TasksOf(service.Id).Single(t => t.Id != old.Id);
        Assert.Equal(TaskState.Ready, replacement.DesiredState);
        Assert.Equal(old.Slot, replacement.Slot);

        await inner.ReportAsync(old.Id, TaskState.Shutdown);

        await inner.WaitDesiredAsync(replacement.Id, TaskState.Running);
        Assert.Equal(0, inner.Loops.Restarts.Promotions);
        Assert.Equal(2, inner.TasksOf(service.Id).Count);
    }

    [Fact]
    public async Task SpecChange_StopFirst_ShutsTheOldTaskDownAndPreparesItsReplacement_AndNoOtherLoopAddsOne()
    {
        // No agents: the old task never reports that it stopped, so the slot stays mid-replacement.
        var node = OrchestratorHarness.Node("a");
        var service = OrchestratorHarness.Replicated("web", 2);
        await using var inner = await OrchestratorHarness.StartAsync(node, service);
        await inner.WaitActiveAsync(service.Id, 2);
        await inner.RunAllAsync(service.Id, node.Id);
        await Shoal.TestKit.Eventually.TrueAsync(() => inner.Store.WatcherCount >= 6, "the six loops");
        var before = inner.TasksOf(service.Id).ToDictionary(t => t.Id);

        await inner.ChangeServiceAsync(service.Id, s =>
        {
            s.Spec.Task.Container.Image = "busybox:1.37";
            s.SpecVersion = 2;
        });

        // The defaults: stop-first, parallelism 1.
        await inner.WaitAsync(() => inner.TasksOf(service.Id).Count == 3, "one replacement");
        var replacement = inner.TasksOf(service.Id).Single(t => !before.ContainsKey(t.Id));
        Assert.Equal(2UL, replacement.SpecVersion);
        Assert.Equal(TaskState.Ready, replacement.DesiredState);
        Assert.Equal(TaskState.Shutdown, inner.Get(before.Values.Single(t => t.Slot == replacement.Slot).Id).DesiredState);
        Assert.Equal(UpdateState.Updating, inner.Store.View().Services.Get(service.Id)!.UpdateStatus.State);

        var passes = inner.Loops.Replicated.PassesCompleted;
        await inner.ChangeServiceAsync(service.Id, s => s.Spec.Annotations.Labels["touched"] = "yes");
        await inner.WaitAsync(() => inner.Loops.Replicated.PassesCompleted > passes, "a replicated orchestrator pass");
        Assert.Equal(3, inner.TasksOf(service.Id).Count);
    }

    [Fact]
    public async Task Completed_ComesOnlyAfterTheMonitorWindowOfTheLastTask()
    {
        var monitor = TimeSpan.FromSeconds(10);
        var service = Replicated("web", 2, Config(parallelism: 2, monitor: monitor));
        await using var harness = await StartAsync(service, 2, Nodes(1));

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.WaitAsync(() => OfImage(harness.Running(service.Id), "app:2").Count == 2, "both new tasks running");
        var ran = harness.Running(service.Id).Max(t => t.Status.Timestamp.ToDateTimeOffset());
        await harness.WaitAsync(() => harness.Inner.Loops.Updates.ArmedUntil == (ran + monitor).UtcTicks, "the monitor timer armed");

        harness.Inner.Time.Advance(monitor - TimeSpan.FromSeconds(1));
        Assert.Equal(UpdateState.Updating, harness.Status(service.Id)!.State);
        Assert.Equal("update in progress", harness.Status(service.Id)!.Message);

        harness.Inner.Time.Advance(TimeSpan.FromSeconds(1));

        await harness.WaitStatusAsync(service.Id, UpdateState.Completed);
        Assert.Equal(ran + monitor, harness.Status(service.Id)!.CompletedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task NewSpecUpdate_InterruptsARunningUpdate_AndRollsOnToTheNewestSpec()
    {
        var service = Replicated("web", 4, Config(parallelism: 1, delay: TimeSpan.FromSeconds(10)));
        await using var harness = await StartAsync(service, 4, Nodes(2));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.WaitAsync(() => OfImage(harness.Running(service.Id), "app:2").Count == 1 && harness.Inner.Loops.Updates.ArmedUntil > 0,
            "the first slot updated and the delay running");
        var firstStart = harness.Status(service.Id)!.StartedAt;

        harness.Inner.Time.Advance(TimeSpan.FromSeconds(1));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:3");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal(4, OfImage(harness.Running(service.Id), "app:3").Count);
        Assert.Single(OfImage(harness.TasksOf(service.Id), "app:2"));
        Assert.True(harness.Status(service.Id)!.StartedAt.ToDateTimeOffset() > firstStart.ToDateTimeOffset());
    }

    [Fact]
    public async Task ForceUpdate_RestartsEveryTask()
    {
        var service = Replicated("web", 3, Config(parallelism: 0));
        await using var harness = await StartAsync(service, 3, Nodes(2));
        var before = harness.Running(service.Id).Select(t => t.Id).ToHashSet();

        await harness.UpdateSpecAsync(service.Id, s => s.Task.ForceUpdate++);
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        var after = harness.Running(service.Id);
        Assert.Equal(3, after.Count);
        Assert.All(after, t => Assert.DoesNotContain(t.Id, before));
        Assert.All(after, t => Assert.Equal("app:1", t.Spec.Container.Image));
    }

    [Fact]
    public async Task PlacementOnlyChange_ThatTheNodesStillMatch_KeepsTheTasks()
    {
        var nodes = Nodes(2);
        foreach (var node in nodes)
        {
            node.Spec.Annotations.Labels["zone"] = "a";
        }

        var service = Replicated("web", 3, Config(parallelism: 0));
        await using var harness = await StartAsync(service, 3, nodes);
        var before = harness.TasksOf(service.Id).Select(t => t.Id).Order().ToList();

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Placement = new Placement { Constraints = { "node.labels.zone==a" } });
        var changed = harness.Service(service.Id).Meta.Version;
        await harness.WaitAsync(() => harness.Inner.Loops.Updates.PassedVersion >= changed, "an update supervisor pass that saw the change");

        Assert.Equal(before, harness.TasksOf(service.Id).Select(t => t.Id).Order());
        Assert.Null(harness.Status(service.Id));
        Assert.Equal(3, harness.Running(service.Id).Count);
    }

    [Fact]
    public async Task UpdateInProgress_IsContinuedByTheNextLeader()
    {
        var service = Replicated("web", 3, Config(parallelism: 1, delay: TimeSpan.FromSeconds(10)));
        await using var harness = await StartAsync(service, 3, Nodes(2));
        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.WaitAsync(() => OfImage(harness.Running(service.Id), "app:2").Count == 1 && harness.Inner.Loops.Updates.ArmedUntil > 0,
            "the first slot updated and the delay running");
        var started = harness.Status(service.Id)!.StartedAt;

        await harness.ChangeLeaderAsync();
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        Assert.Equal(3, OfImage(harness.TasksOf(service.Id), "app:2").Count);
        Assert.Equal(3, OfImage(harness.Running(service.Id), "app:2").Count);
        Assert.Equal(started, harness.Status(service.Id)!.StartedAt);
    }

    [Fact]
    public async Task GlobalService_IsUpdatedNodeByNode()
    {
        var nodes = Nodes(3);
        var service = OrchestratorHarness.Global("agent", spec => spec.Container.Image = "app:1");
        service.Spec.Update = Config(parallelism: 1, delay: TimeSpan.FromSeconds(1));
        await using var harness = await StartAsync(service, 3, nodes);
        using var sampler = new RunningSampler(harness.Store, service.Id);

        await harness.UpdateSpecAsync(service.Id, s => s.Task.Container.Image = "app:2");
        await harness.DriveToStatusAsync(service.Id, UpdateState.Completed);

        var running = harness.Running(service.Id);
        Assert.Equal(nodes.Select(n => n.Id).Order(), running.Select(t => t.NodeId).Order());
        Assert.All(running, t => Assert.Equal("app:2", t.Spec.Container.Image));
        Assert.Equal(2, sampler.MinRunningSlots);
        Assert.Equal([1, 1, 1], Batches(OfImage(harness.TasksOf(service.Id), "app:2")).Select(b => b.Count));
    }
}
