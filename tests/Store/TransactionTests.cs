using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class TransactionTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    private MemoryStore NewStore() => new(timeProvider: _clock);

    [Fact]
    public async Task Create_StoresACopyWithMeta_AndGetReturnsIt()
    {
        using var store = NewStore();
        var node = Objects.Node("n1");

        await store.UpdateAsync(tx => tx.Create(node));

        var stored = store.View().Nodes.Get(node.Id);
        Assert.NotNull(stored);
        Assert.Equal("n1", stored.Description.Hostname);
        Assert.Equal(1UL, stored.Meta.Version);
        Assert.Equal(_clock.GetUtcNow(), stored.Meta.CreatedAt.ToDateTimeOffset());
        Assert.Equal(stored.Meta.CreatedAt, stored.Meta.UpdatedAt);
        Assert.Equal(1UL, store.Version);
    }

    [Fact]
    public async Task Create_KeepsAPrivateCopy_CallerMutationsDoNotLeakIn()
    {
        using var store = NewStore();
        var node = Objects.Node("before");
        await store.UpdateAsync(tx => tx.Create(node));

        node.Description.Hostname = "after";

        Assert.Equal("before", store.View().Nodes.Get(node.Id)!.Description.Hostname);
    }

    [Fact]
    public async Task Update_WithTheVersionRead_Succeeds_AndBumpsVersionAndUpdatedAt()
    {
        using var store = NewStore();
        var service = Objects.Service("web");
        await store.UpdateAsync(tx => tx.Create(service));
        var read = store.View().Services.Get(service.Id)!.Clone();
        _clock.Advance(TimeSpan.FromMinutes(1));

        read.Spec.Replicated.Replicas = 5;
        await store.UpdateAsync(tx => tx.Update(read));

        var stored = store.View().Services.Get(service.Id)!;
        Assert.Equal(5, stored.Spec.Replicated.Replicas);
        Assert.Equal(2UL, stored.Meta.Version);
        Assert.Equal(_clock.GetUtcNow().AddMinutes(-1), stored.Meta.CreatedAt.ToDateTimeOffset());
        Assert.Equal(_clock.GetUtcNow(), stored.Meta.UpdatedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task Update_WithAStaleVersion_FailsOutOfSequence_AndChangesNothing()
    {
        using var store = NewStore();
        var service = Objects.Service("web", replicas: 1);
        await store.UpdateAsync(tx => tx.Create(service));
        var first = store.View().Services.Get(service.Id)!.Clone();
        var second = store.View().Services.Get(service.Id)!.Clone();
        first.Spec.Replicated.Replicas = 2;
        await store.UpdateAsync(tx => tx.Update(first));

        second.Spec.Replicated.Replicas = 3;
        var error = await Assert.ThrowsAsync<UpdateOutOfSequenceException>(() => store.UpdateAsync(tx => tx.Update(second)).AsTask());

        Assert.Equal(1UL, error.ReadVersion);
        Assert.Equal(2UL, error.CurrentVersion);
        Assert.Contains("update out of sequence", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, store.View().Services.Get(service.Id)!.Spec.Replicated.Replicas);
        Assert.Equal(2UL, store.Version);
    }

    [Fact]
    public async Task Update_WithAVersionFromTheFuture_FailsOutOfSequence()
    {
        using var store = NewStore();
        var node = Objects.Node();
        await store.UpdateAsync(tx => tx.Create(node));
        var copy = store.View().Nodes.Get(node.Id)!.Clone();
        copy.Meta.Version += 1;

        await Assert.ThrowsAsync<UpdateOutOfSequenceException>(() => store.UpdateAsync(tx => tx.Update(copy)).AsTask());
    }

    [Fact]
    public async Task Update_WithoutMeta_IsOutOfSequence()
    {
        using var store = NewStore();
        var node = Objects.Node();
        await store.UpdateAsync(tx => tx.Create(node));

        // node still has no meta: it is the caller's object, not the stored one.
        await Assert.ThrowsAsync<UpdateOutOfSequenceException>(() => store.UpdateAsync(tx => tx.Update(node)).AsTask());
    }

    [Fact]
    public async Task Update_SameObjectTwiceInOneTransaction_SecondSeesTheFirst()
    {
        using var store = NewStore();
        var service = Objects.Service("web");
        await store.UpdateAsync(tx => tx.Create(service));

        await store.UpdateAsync(tx =>
        {
            var a = tx.Services.Get(service.Id)!.Clone();
            a.Spec.Replicated.Replicas = 2;
            tx.Update(a);
            var b = tx.Services.Get(service.Id)!.Clone();
            Assert.Equal(2, b.Spec.Replicated.Replicas);
            b.Spec.Replicated.Replicas = 3;
            tx.Update(b);
        });

        Assert.Equal(3, store.View().Services.Get(service.Id)!.Spec.Replicated.Replicas);
        Assert.Equal(2UL, store.Version);
    }

    [Fact]
    public async Task Create_DuplicateId_FailsWithObjectExists()
    {
        using var store = NewStore();
        var node = Objects.Node();
        await store.UpdateAsync(tx => tx.Create(node));

        var error = await Assert.ThrowsAsync<ObjectExistsException>(() => store.UpdateAsync(tx => tx.Create(node)).AsTask());
        Assert.Equal(node.Id, error.Id);
    }

    [Fact]
    public async Task Create_WithoutId_IsRefused()
    {
        using var store = NewStore();
        var node = Objects.Node(id: "");

        var error = await Assert.ThrowsAsync<InvalidStoreObjectException>(() => store.UpdateAsync(tx => tx.Create(node)).AsTask());
        Assert.Contains("without an id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpdateAndDelete_OfMissingObject_FailWithNotFound()
    {
        using var store = NewStore();
        var ghost = Objects.Node();

        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.UpdateAsync(tx => tx.Update(ghost)).AsTask());
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.UpdateAsync(tx => tx.Delete<Node>(ghost.Id)).AsTask());
    }

    [Fact]
    public async Task Delete_RemovesTheObjectAndItsIndexEntries()
    {
        using var store = NewStore();
        var service = Objects.Service("web");
        var task = Objects.Task(service, nodeId: "n1");
        await store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(task);
        });

        await store.UpdateAsync(tx => tx.Delete<SwarmTask>(task.Id));

        var view = store.View();
        Assert.Null(view.Tasks.Get(task.Id));
        Assert.Empty(view.Tasks.ByService(service.Id));
        Assert.Empty(view.Tasks.ByNode("n1"));
        Assert.Empty(view.Tasks.ByName(task.Annotations.Name));
    }

    [Fact]
    public async Task ACallbackThatThrows_LeavesTheStoreUnchanged()
    {
        using var store = NewStore();
        var kept = Objects.Node("kept");
        await store.UpdateAsync(tx => tx.Create(kept));
        var watcher = store.Watch();

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.UpdateAsync(tx =>
        {
            tx.Create(Objects.Node("lost"));
            tx.Delete<Node>(kept.Id);
            throw new InvalidOperationException("boom");
        }).AsTask());

        var view = store.View();
        Assert.Equal(1, view.Nodes.Count);
        Assert.NotNull(view.Nodes.Get(kept.Id));
        Assert.Equal(1UL, store.Version);
        Assert.False(watcher.TryRead(out _), "a failed transaction must publish nothing");
    }

    [Fact]
    public async Task TheTransaction_CannotBeUsedAfterItsCallback()
    {
        using var store = NewStore();
        WriteTransaction? leaked = null;
        await store.UpdateAsync(tx => leaked = tx);

        Assert.Throws<InvalidOperationException>(() => leaked!.Create(Objects.Node()));
    }

    [Fact]
    public async Task AnEmptyTransaction_CommitsNothing()
    {
        using var store = NewStore();
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true });

        await store.UpdateAsync(_ => { });

        Assert.Equal(0UL, store.Version);
        Assert.False(watcher.TryRead(out _));
    }

    [Fact]
    public async Task AView_IsASnapshot_LaterWritesDoNotShowInIt()
    {
        using var store = NewStore();
        var node = Objects.Node("n1");
        await store.UpdateAsync(tx => tx.Create(node));
        var before = store.View();

        await store.UpdateAsync(tx =>
        {
            tx.Delete<Node>(node.Id);
            tx.Create(Objects.Node("n2"));
        });

        Assert.NotNull(before.Nodes.Get(node.Id));
        Assert.Equal(1, before.Nodes.Count);
        Assert.Equal(1UL, before.Version);
        Assert.Null(store.View().Nodes.Get(node.Id));
    }

    [Fact]
    public async Task UpdateAsync_ReturnsTheCallbacksResult()
    {
        using var store = NewStore();
        var id = await store.UpdateAsync(tx =>
        {
            var node = Objects.Node();
            tx.Create(node);
            return node.Id;
        });

        Assert.NotNull(store.View().Nodes.Get(id));
    }

    [Fact]
    public async Task Writes_AreSerialized_ConcurrentIncrementsLoseNothing()
    {
        using var store = NewStore();
        var service = Objects.Service("counter", replicas: 0);
        await store.UpdateAsync(tx => tx.Create(service));

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                await store.UpdateAsync(tx =>
                {
                    var s = tx.Services.Get(service.Id)!.Clone();
                    s.Spec.Replicated.Replicas++;
                    tx.Update(s);
                });
            }
        })));

        Assert.Equal(400, store.View().Services.Get(service.Id)!.Spec.Replicated.Replicas);
        Assert.Equal(401UL, store.Version);
    }

    [Fact]
    public async Task Dispose_RefusesFurtherWrites()
    {
        var store = NewStore();
        store.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.UpdateAsync(tx => tx.Create(Objects.Node())).AsTask());
    }
}
