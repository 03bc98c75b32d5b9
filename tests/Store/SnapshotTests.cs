using Google.Protobuf;
using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class SnapshotTests
{
    [Fact]
    public async Task SaveThenRestore_ThroughBytes_GivesAnEqualStoreWithWorkingIndexes()
    {
        using var source = new MemoryStore();
        var web = Objects.Service("web");
        var node = Objects.Node("n1");
        await source.UpdateAsync(tx =>
        {
            tx.Create(web);
            tx.Create(node);
            tx.Create(Objects.Secret());
            tx.Create(Objects.Config());
            tx.Create(Objects.Network());
            tx.Create(Objects.Cluster());
            for (var slot = 1; slot <= 20; slot++)
            {
                tx.Create(Objects.Task(web, slot, node.Id, TaskState.Running));
            }
        });

        var bytes = source.Save().ToByteArray();
        using var restored = new MemoryStore();
        restored.Restore(StoreSnapshot.Parser.ParseFrom(bytes));

        Assert.Equal(source.Save(), restored.Save());
        Assert.Equal(source.Version, restored.Version);
        var view = restored.View();
        Assert.Equal(20, view.Tasks.ByService(web.Id).Count);
        Assert.Equal(20, view.Tasks.ByNode(node.Id).Count);
        Assert.Single(view.Tasks.BySlot(web.Id, 7));
        Assert.Equal(web.Id, view.Services.ByName("WEB").Single().Id);

        // Uniqueness is enforced on the restored data too.
        await Assert.ThrowsAsync<NameConflictException>(() => restored.UpdateAsync(tx => tx.Create(Objects.Service("web"))).AsTask());
        // And versions continue from the snapshot's.
        await restored.UpdateAsync(tx => tx.Create(Objects.Node()));
        Assert.Equal(source.Version + 1, restored.Version);
    }

    [Fact]
    public async Task Restore_TellsWatchersTheDifference()
    {
        using var store = new MemoryStore();
        var keep = Objects.Node("keep");
        var change = Objects.Node("change");
        var drop = Objects.Node("drop");
        await store.UpdateAsync(tx =>
        {
            tx.Create(keep);
            tx.Create(change);
            tx.Create(drop);
        });
        var snapshot = store.Save().Clone();
        var changed = snapshot.Nodes.Single(n => n.Id == change.Id);
        changed.Description.Hostname = "changed";
        snapshot.Nodes.Remove(snapshot.Nodes.Single(n => n.Id == drop.Id));
        var added = Objects.Node("added");
        added.Meta = new Meta { Version = 1 };
        snapshot.Nodes.Add(added);
        snapshot.Version = 9;
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true });

        store.Restore(snapshot);

        var events = WatchTests.Drain(watcher);
        Assert.Equal(
            new[] { $"Delete {drop.Id}", $"Create {added.Id}", $"Update {change.Id}", "Commit " }.Order(StringComparer.Ordinal),
            events.Select(e => $"{e.Kind} {e.Target?.Id}").Order(StringComparer.Ordinal));
        Assert.All(events, e => Assert.Equal(9UL, e.Version));
        Assert.Equal(9UL, store.Version);
    }

    [Fact]
    public void RestoringAnEmptySnapshot_EmptiesTheStore()
    {
        using var store = new MemoryStore();
        store.ApplyStoreActions([new StoreAction { Kind = StoreActionKind.Create, Node = Objects.Node() }], 3);

        store.Restore(new StoreSnapshot { Version = 3 });

        Assert.Equal(0, store.View().Nodes.Count);
    }
}
