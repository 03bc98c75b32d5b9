using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class WatchTests
{
    [Fact]
    public async Task Events_CarryTheNewObject_AndTheOldOneOnUpdate_ThenACommit()
    {
        using var store = new MemoryStore();
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true });
        var service = Objects.Service("web", replicas: 1);

        await store.UpdateAsync(tx => tx.Create(service));
        var scaled = store.View().Services.Get(service.Id)!.Clone();
        scaled.Spec.Replicated.Replicas = 4;
        await store.UpdateAsync(tx => tx.Update(scaled));
        await store.UpdateAsync(tx => tx.Delete<Service>(service.Id));

        var events = Drain(watcher);
        Assert.Equal(
            ["Create service 1", "Commit 1", "Update service 2", "Commit 2", "Delete service 3", "Commit 3"],
            events.Select(e => e.Kind == StoreEventKind.Commit ? $"Commit {e.Version}" : $"{e.Kind} {e.ObjectKind.DisplayName()} {e.Version}"));
        var update = events[2];
        Assert.Equal(4, ((Service)update.Target!).Spec.Replicated.Replicas);
        Assert.Equal(1, ((Service)update.Old!).Spec.Replicated.Replicas);
        Assert.Equal(service.Id, events[4].Target!.Id);
    }

    [Fact]
    public async Task Filters_SelectByTypeKindAndContent()
    {
        using var store = new MemoryStore();
        var web = Objects.Service("web");
        var api = Objects.Service("api");
        var webTasks = store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<SwarmTask>(t => t.ServiceId == web.Id) });
        var deletes = store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<IStoreObject>(StoreEventKinds.Delete) });
        var nodesOrServices = store.Watch(new WatchOptions { Filter = StoreEventFilters.Any(StoreEventFilters.Of<Node>(), StoreEventFilters.Of<Service>()) });

        var t1 = Objects.Task(web, 1);
        await store.UpdateAsync(tx =>
        {
            tx.Create(web);
            tx.Create(api);
            tx.Create(t1);
            tx.Create(Objects.Task(api, 1));
            tx.Create(Objects.Node());
        });
        await store.UpdateAsync(tx => tx.Delete<SwarmTask>(t1.Id));

        Assert.Equal([StoreEventKind.Create, StoreEventKind.Delete], Drain(webTasks).Select(e => e.Kind));
        Assert.Equal([t1.Id], Drain(deletes).Select(e => e.Target!.Id));
        Assert.Equal(3, Drain(nodesOrServices).Count);
    }

    [Fact]
    public async Task ViewAndWatch_MissesNothingAndRepeatsNothing_UnderConcurrentWriters()
    {
        using var store = new MemoryStore();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 400; i++)
            {
                await store.UpdateAsync(tx => tx.Create(Objects.Node($"w{w}-{i}")));
            }
        })).ToArray();

        await Eventually.TrueAsync(() => store.View().Nodes.Count > 50, "writers to get going");
        var (view, watcher) = store.ViewAndWatch(new WatchOptions { Capacity = 100_000 });
        await Task.WhenAll(writers);

        var seen = view.Nodes.All().Select(n => n.Id).ToHashSet();
        var fromView = seen.Count;
        foreach (var e in Drain(watcher))
        {
            Assert.True(seen.Add(e.Target!.Id), $"node {e.Target.Id} was delivered twice (view held {fromView})");
            Assert.True(e.Version > view.Version, "an event older than the view was delivered");
        }

        Assert.Equal(800, seen.Count);
    }

    [Fact]
    public async Task ASlowWatcher_IsClosed_WritersNeverWait()
    {
        using var store = new MemoryStore();
        var slow = store.Watch(new WatchOptions { Capacity = 10 });
        var healthy = store.Watch(new WatchOptions { Capacity = 1000 });

        for (var i = 0; i < 50; i++)
        {
            await store.UpdateAsync(tx => tx.Create(Objects.Node($"n{i}")));
        }

        Assert.Equal(50, store.View().Nodes.Count);
        Assert.Equal(50, Drain(healthy).Count);
        var received = 0;
        var overflow = await Assert.ThrowsAsync<WatcherOverflowException>(async () =>
        {
            await foreach (var _ in slow.ReadAllAsync(TestContext.Current.CancellationToken))
            {
                received++;
            }
        });
        Assert.Equal(10, received);
        Assert.Equal(10, overflow.Capacity);
        Assert.Contains("fell 10 events behind", overflow.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.WatcherCount);
    }

    [Fact]
    public async Task AWatcherThatKeepsUp_IsNeverClosed()
    {
        using var store = new MemoryStore();
        var watcher = store.Watch(new WatchOptions { Capacity = 4 });
        for (var i = 0; i < 100; i++)
        {
            await store.UpdateAsync(tx => tx.Create(Objects.Node()));
            Assert.Single(Drain(watcher));
        }

        Assert.False(watcher.Completion.IsCompleted);
    }

    [Fact]
    public async Task Dispose_Unsubscribes()
    {
        using var store = new MemoryStore();
        var watcher = store.Watch();
        Assert.Equal(1, store.WatcherCount);

        watcher.Dispose();
        await store.UpdateAsync(tx => tx.Create(Objects.Node()));

        Assert.Equal(0, store.WatcherCount);
        Assert.False(watcher.TryRead(out _));
        await watcher.Completion;
    }

    [Fact]
    public async Task ClosingTheStore_EndsEveryWatcher()
    {
        var store = new MemoryStore();
        var watcher = store.Watch();
        var reader = Task.Run(async () =>
        {
            var n = 0;
            await foreach (var _ in watcher.ReadAllAsync())
            {
                n++;
            }

            return n;
        });

        store.Dispose();

        Assert.Equal(0, await reader.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadAsync_WaitsForTheNextCommit()
    {
        using var store = new MemoryStore();
        var watcher = store.Watch();
        var next = watcher.ReadAsync(TestContext.Current.CancellationToken).AsTask();
        Assert.False(next.IsCompleted);

        var node = Objects.Node();
        await store.UpdateAsync(tx => tx.Create(node));

        var e = await next.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(node.Id, e.Target!.Id);
    }

    internal static List<StoreEvent> Drain(StoreWatcher watcher)
    {
        var events = new List<StoreEvent>();
        while (watcher.TryRead(out var e))
        {
            events.Add(e);
        }

        return events;
    }
}
