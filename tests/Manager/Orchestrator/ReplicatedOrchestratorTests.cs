using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>Replicated services: slots 1..N, scaling, and moving tasks off DOWN and drained nodes (SwarmKit's
/// replicated orchestrator scenarios).</summary>
public sealed class ReplicatedOrchestratorTests
{
    [Fact]
    public async Task NewService_GetsOneTaskPerSlot_MadeFromItsTemplate()
    {
        var service = Replicated("web", 3);
        service.Spec.Task.LogDriver = new LogDriver { Name = "json-file" };
        await using var harness = await StartAsync(service);

        await harness.WaitActiveAsync(service.Id, 3);

        var tasks = harness.TasksOf(service.Id);
        Assert.Equal([1L, 2L, 3L], tasks.Select(t => t.Slot).Order());
        Assert.All(tasks, t =>
        {
            Assert.Equal(service.Spec.Task, t.Spec);
            Assert.Equal(1UL, t.SpecVersion);
            Assert.Equal(service.Spec.Annotations, t.ServiceAnnotations);
            Assert.Equal(TaskState.New, t.Status.State);
            Assert.Equal("created", t.Status.Message);
            Assert.Equal(harness.Time.GetUtcNow(), t.Status.Timestamp.ToDateTimeOffset());
            Assert.Equal(TaskState.Running, t.DesiredState);
            Assert.Equal("json-file", t.LogDriver.Name);
            Assert.Equal($"web.{t.Slot}.{t.Id}", t.Annotations.Name);
            Assert.Empty(t.NodeId);
            Assert.False(t.HasJobIteration);
        });
    }

    [Fact]
    public async Task ScaleUp_AddsSlots_AndKeepsTheTasksItHad()
    {
        var service = Replicated("web", 2);
        await using var harness = await StartAsync(service);
        await harness.WaitActiveAsync(service.Id, 2);
        var before = harness.TasksOf(service.Id).Select(t => t.Id).ToHashSet();

        await harness.ChangeServiceAsync(service.Id, s => s.Spec.Replicated.Replicas = 5);

        await harness.WaitActiveAsync(service.Id, 5);
        var after = harness.Active(service.Id);
        Assert.Subset(after.Select(t => t.Id).ToHashSet(), before);
        Assert.Equal([1L, 2L, 3L, 4L, 5L], after.Select(t => t.Slot).Order());
    }

    [Fact]
    public async Task ScaleDown_RemovesTasksNotRunningFirst_ThenFromTheBusiestNode_ThenTheHighestSlot()
    {
        var nodeA = Node("a");
        var nodeB = Node("b");
        var service = Replicated("web", 5);
        await using var harness = await StartAsync(nodeA, nodeB, service);
        await harness.WaitActiveAsync(service.Id, 5);
        var bySlot = harness.TasksOf(service.Id).ToDictionary(t => t.Slot);

        // Slots 1-3 run on node a, slot 4 on node b; slot 5 waits for a node.
        await harness.RunOnAsync(bySlot[1].Id, nodeA.Id);
        await harness.RunOnAsync(bySlot[2].Id, nodeA.Id);
        await harness.RunOnAsync(bySlot[3].Id, nodeA.Id);
        await harness.RunOnAsync(bySlot[4].Id, nodeB.Id);

        await harness.ChangeServiceAsync(service.Id, s => s.Spec.Replicated.Replicas = 3);

        await harness.WaitActiveAsync(service.Id, 3);
        // Slot 5 never reached a node: the reaper deleted it at once. Slot 3 stops first.
        await harness.WaitDeletedAsync(bySlot[5].Id);
        Assert.Equal(TaskState.Remove, harness.Get(bySlot[3].Id).DesiredState);
        Assert.Equal([1L, 2L, 4L], harness.Active(service.Id).Select(t => t.Slot).Order());
    }

    [Fact]
    public async Task ScaleDownThenUp_ReusesTheFreedSlotNumbers()
    {
        var service = Replicated("web", 3);
        await using var harness = await StartAsync(service);
        await harness.WaitActiveAsync(service.Id, 3);

        await harness.ChangeServiceAsync(service.Id, s => s.Spec.Replicated.Replicas = 1);
        // Never assigned: the reaper deletes removed tasks at once.
        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count == 1, "the two removed tasks deleted");
        await harness.ChangeServiceAsync(service.Id, s => s.Spec.Replicated.Replicas = 3);

        await harness.WaitActiveAsync(service.Id, 3);
        Assert.Equal([1L, 2L, 3L], harness.Active(service.Id).Select(t => t.Slot).Order());
    }

    [Fact]
    public async Task NodeDown_ReplacesItsTasksElsewhere_InOneWrite()
    {
        var failing = Node("failing");
        var healthy = Node("healthy");
        var service = Replicated("web", 100);
        await using var harness = await StartAsync(failing, healthy, service);
        await harness.WaitActiveAsync(service.Id, 100);
        await harness.RunAllAsync(service.Id, failing.Id);
        var onFailing = harness.TasksOf(service.Id).Select(t => t.Id).ToList();
        using var writes = new TaskWrites(harness.Store);

        await harness.ChangeNodeAsync(failing.Id, n => n.Status.State = NodeState.Down);

        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count == 200, "100 replacements");
        Assert.All(onFailing, id => Assert.Equal(TaskState.Shutdown, harness.Get(id).DesiredState));
        var replacements = harness.TasksOf(service.Id).Where(t => !onFailing.Contains(t.Id)).ToList();
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), replacements.Select(t => t.Slot).Order());

        // The default restart delay (5 s): prepared, not started, until it passes.
        Assert.All(replacements, t => Assert.Equal(TaskState.Ready, t.DesiredState));
        await writes.WaitAsync(1);
        Assert.Equal([200], writes.ChangesPerTransaction);

        await harness.WaitRestartTimerAsync(harness.Time.GetUtcNow() + TimeSpan.FromSeconds(5));
        harness.Time.Advance(TimeSpan.FromSeconds(5));

        await harness.WaitAsync(() => replacements.All(t => harness.Get(t.Id).DesiredState == TaskState.Running), "the 100 replacements started after the delay");
        await writes.WaitAsync(2);
        Assert.Equal([200, 100], writes.ChangesPerTransaction);
    }

    [Fact]
    public async Task DrainedNode_HasItsTasksReplacedAtOnce()
    {
        var drained = Node("drained");
        var service = Replicated("web", 2);
        await using var harness = await StartAsync(drained, service);
        await harness.WaitActiveAsync(service.Id, 2);
        await harness.RunAllAsync(service.Id, drained.Id);
        var old = harness.TasksOf(service.Id).Select(t => t.Id).ToList();

        await harness.ChangeNodeAsync(drained.Id, n => n.Spec.Availability = NodeAvailability.Drain);

        await harness.WaitAsync(() => harness.TasksOf(service.Id).Count(t => t.DesiredState == TaskState.Running && !old.Contains(t.Id)) == 2,
            "two replacements meant to run at once (no restart delay for a drain)");
        Assert.All(old, id => Assert.Equal(TaskState.Shutdown, harness.Get(id).DesiredState));
    }

    [Fact]
    public async Task DeletedNode_HasItsTasksReplaced()
    {
        var node = Node("gone");
        var service = Replicated("web", 1, Restart(delay: TimeSpan.Zero));
        await using var harness = await StartAsync(node, service);
        await harness.WaitActiveAsync(service.Id, 1);
        await harness.RunAllAsync(service.Id, node.Id);
        var old = harness.TasksOf(service.Id).Single();

        await harness.DeleteNodeAsync(node.Id);

        await harness.WaitAsync(() => harness.TasksOf(service.Id).Any(t => t.Id != old.Id && t.Slot == 1 && t.DesiredState == TaskState.Running),
            "a replacement in slot 1");
    }
}

/// <summary>Counts the store's transactions that changed tasks, and how many task changes each carried.</summary>
internal sealed class TaskWrites : IDisposable
{
    private readonly StoreWatcher _watcher;
    private readonly Task _reading;
    private readonly List<int> _changes = [];

    public TaskWrites(MemoryStore store)
    {
        _watcher = store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<SwarmTask>(), IncludeCommits = true, Capacity = int.MaxValue });
        _reading = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var e in _watcher.ReadAllAsync())
            {
                if (e.Kind != StoreEventKind.Commit)
                {
                    count++;
                }
                else if (count > 0)
                {
                    lock (_changes)
                    {
                        _changes.Add(count);
                    }

                    count = 0;
                }
            }
        });
    }

    /// <summary>Task changes of each transaction that had some, in commit order.</summary>
    public List<int> ChangesPerTransaction
    {
        get
        {
            lock (_changes)
            {
                return [.. _changes];
            }
        }
    }

    public Task WaitAsync(int transactions) => Eventually.TrueAsync(
        () => ChangesPerTransaction.Count >= transactions,
        $"{transactions} transactions changing tasks (seen: {string.Join(", ", ChangesPerTransaction)})");

    public void Dispose()
    {
        _watcher.Dispose();
        _reading.Wait(TimeSpan.FromSeconds(5));
    }
}
