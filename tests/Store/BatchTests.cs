using Google.Protobuf;
using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class BatchTests
{
    [Fact]
    public async Task ManySmallUpdates_ArePackedInTransactionsOfAtMost200Changes()
    {
        using var store = new MemoryStore();
        var service = Objects.Service("web");
        await store.UpdateAsync(tx => tx.Create(service));
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true, Capacity = 10_000 });

        var commits = await store.BatchAsync(async batch =>
        {
            for (var slot = 1; slot <= 450; slot++)
            {
                var task = Objects.Task(service, slot);
                await batch.UpdateAsync(tx => tx.Create(task));
            }
        });

        Assert.Equal(3, commits);
        Assert.Equal(450, store.View().Tasks.ByService(service.Id).Count);
        Assert.Equal([200, 200, 50], ChangesPerCommit(watcher));
        Assert.Equal(4UL, store.Version);
    }

    [Fact]
    public async Task ACallbackWithSeveralChanges_IsNeverSplit()
    {
        using var store = new MemoryStore(options: new StoreOptions { MaxChangesPerTransaction = 10 });
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true });

        await store.BatchAsync(async batch =>
        {
            for (var i = 0; i < 7; i++)
            {
                await batch.UpdateAsync(tx =>
                {
                    tx.Create(Objects.Node());
                    tx.Create(Objects.Node());
                    tx.Create(Objects.Node());
                });
            }
        });

        // 3 changes per callback, at most 10 per transaction: 9 + 9 + 3.
        Assert.Equal([9, 9, 3], ChangesPerCommit(watcher));
        Assert.Equal(21, store.View().Nodes.Count);
    }

    [Fact]
    public async Task Transactions_AreCutBeforeTheyExceedTheByteLimit()
    {
        const int limit = 1024 * 1024;
        var proposer = new ScriptedProposer();
        using var store = new MemoryStore(proposer);
        var payload = new string('x', 300 * 1024);

        await store.BatchAsync(async batch =>
        {
            for (var i = 0; i < 10; i++)
            {
                await batch.UpdateAsync(tx => tx.Create(Objects.Config($"big-{i}", payload)));
            }
        });

        Assert.Equal(10, store.View().Configs.Count);
        Assert.All(proposer.Log, entry => Assert.True(entry.Entry.CalculateSize() <= limit, $"entry {entry.Index} is {entry.Entry.CalculateSize()} bytes"));
        Assert.Equal([3, 3, 3, 1], proposer.Log.Select(e => e.Entry.Actions.Count));
    }

    [Fact]
    public async Task AFailingCallback_UndoesOnlyItsOwnChanges()
    {
        using var store = new MemoryStore();
        var kept = Objects.Node("kept");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.BatchAsync(async batch =>
        {
            await batch.UpdateAsync(tx => tx.Create(kept));
            await batch.UpdateAsync(tx =>
            {
                tx.Create(Objects.Node("half-done"));
                throw new InvalidOperationException("second callback failed");
            });
        }).AsTask());

        Assert.Equal("second callback failed", error.Message);
        Assert.Equal([kept.Id], store.View().Nodes.All().Select(n => n.Id));
        Assert.Empty(store.View().Nodes.ByName("half-done"));

        // A caller that handles the error goes on in the same batch.
        var later = Objects.Node("later");
        await store.BatchAsync(async batch =>
        {
            try
            {
                await batch.UpdateAsync(tx =>
                {
                    tx.Create(Objects.Node("half-done"));
                    tx.Create(kept);
                });
            }
            catch (ObjectExistsException)
            {
            }

            await batch.UpdateAsync(tx => tx.Create(later));
        });

        Assert.Equal(new[] { kept.Id, later.Id }.Order(StringComparer.Ordinal), store.View().Nodes.All().Select(n => n.Id));
        Assert.Empty(store.View().Nodes.ByName("half-done"));
    }

    [Fact]
    public async Task AProposerFailure_FailsTheBatch_AndLeavesEarlierTransactionsCommitted()
    {
        var proposer = new ScriptedProposer();
        using var store = new MemoryStore(proposer, options: new StoreOptions { MaxChangesPerTransaction = 2 });

        await Assert.ThrowsAsync<TimeoutException>(() => store.BatchAsync(async batch =>
        {
            await batch.UpdateAsync(tx => tx.Create(Objects.Node("a")));
            await batch.UpdateAsync(tx => tx.Create(Objects.Node("b")));
            proposer.FailNext = new TimeoutException("leadership lost");
            await batch.UpdateAsync(tx => tx.Create(Objects.Node("c")));
            await batch.UpdateAsync(tx => tx.Create(Objects.Node("d")));
        }).AsTask());

        Assert.Equal(["a", "b"], store.View().Nodes.All().Select(n => n.Description.Hostname).Order());

        // The write lock was released: the store still takes writes.
        await store.UpdateAsync(tx => tx.Create(Objects.Node("e")));
        Assert.Equal(3, store.View().Nodes.Count);
    }

    [Fact]
    public async Task VersionChecks_InsideABatch_SeeEarlierCallbacks()
    {
        using var store = new MemoryStore();
        var service = Objects.Service("counter", replicas: 0);
        await store.UpdateAsync(tx => tx.Create(service));

        await store.BatchAsync(async batch =>
        {
            for (var i = 0; i < 500; i++)
            {
                await batch.UpdateAsync(tx =>
                {
                    var s = tx.Services.Get(service.Id)!.Clone();
                    s.Spec.Replicated.Replicas++;
                    tx.Update(s);
                });
            }
        });

        var stored = store.View().Services.Get(service.Id)!;
        Assert.Equal(500, stored.Spec.Replicated.Replicas);
        Assert.Equal(store.Version, stored.Meta.Version);
    }

    private static List<int> ChangesPerCommit(StoreWatcher watcher)
    {
        var counts = new List<int>();
        var current = 0;
        while (watcher.TryRead(out var e))
        {
            if (e.Kind == StoreEventKind.Commit)
            {
                counts.Add(current);
                current = 0;
            }
            else
            {
                current++;
            }
        }

        return counts;
    }
}
