using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class NameAndIndexTests
{
    [Fact]
    public async Task ServiceNames_AreUnique_CaseInsensitively()
    {
        using var store = new MemoryStore();
        var web = Objects.Service("web");
        await store.UpdateAsync(tx => tx.Create(web));

        var error = await Assert.ThrowsAsync<NameConflictException>(() => store.UpdateAsync(tx => tx.Create(Objects.Service("WEB"))).AsTask());

        Assert.Equal(web.Id, error.ExistingId);
        Assert.Contains("name conflicts with an existing object: service WEB already exists", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.View().Services.Count);
    }

    [Fact]
    public async Task RenamingOntoATakenName_Conflicts_RenamingToOwnNameInOtherCase_DoesNot()
    {
        using var store = new MemoryStore();
        var web = Objects.Service("web");
        var api = Objects.Service("api");
        await store.UpdateAsync(tx =>
        {
            tx.Create(web);
            tx.Create(api);
        });

        var renamed = store.View().Services.Get(api.Id)!.Clone();
        renamed.Spec.Annotations.Name = "Web";
        await Assert.ThrowsAsync<NameConflictException>(() => store.UpdateAsync(tx => tx.Update(renamed)).AsTask());

        var recased = store.View().Services.Get(web.Id)!.Clone();
        recased.Spec.Annotations.Name = "WEB";
        await store.UpdateAsync(tx => tx.Update(recased));
        Assert.Equal("WEB", store.View().Services.ByName("web").Single().Spec.Annotations.Name);
    }

    [Fact]
    public async Task AFreedName_CanBeTakenAgain_EvenInTheSameTransaction()
    {
        using var store = new MemoryStore();
        var old = Objects.Secret("token");
        await store.UpdateAsync(tx => tx.Create(old));

        await store.UpdateAsync(tx =>
        {
            tx.Delete<Secret>(old.Id);
            tx.Create(Objects.Secret("token"));
        });

        Assert.Single(store.View().Secrets.ByName("token"));
    }

    [Fact]
    public async Task Names_AreUniquePerKind_NotAcrossKinds()
    {
        using var store = new MemoryStore();
        await store.UpdateAsync(tx =>
        {
            tx.Create(Objects.Service("shared"));
            tx.Create(Objects.Secret("shared"));
            tx.Create(Objects.Config("shared"));
            tx.Create(Objects.Network("shared"));
        });

        await Assert.ThrowsAsync<NameConflictException>(() => store.UpdateAsync(tx => tx.Create(Objects.Network("SHARED"))).AsTask());
        await Assert.ThrowsAsync<NameConflictException>(() => store.UpdateAsync(tx => tx.Create(Objects.Config("Shared"))).AsTask());
        await store.UpdateAsync(tx => tx.Create(Objects.Cluster("default")));
        await Assert.ThrowsAsync<NameConflictException>(() => store.UpdateAsync(tx => tx.Create(Objects.Cluster("Default"))).AsTask());
    }

    [Fact]
    public async Task NodesMayShareHostnames()
    {
        using var store = new MemoryStore();
        await store.UpdateAsync(tx =>
        {
            tx.Create(Objects.Node("worker"));
            tx.Create(Objects.Node("worker"));
        });

        Assert.Equal(2, store.View().Nodes.ByName("WORKER").Count);
    }

    [Fact]
    public async Task Resolve_ByIdThenNameThenUniquePrefix()
    {
        using var store = new MemoryStore();
        var a = Objects.Service("alpha", id: "aaaa1111111111111111111111"[..25]);
        var b = Objects.Service("beta", id: "aaab2222222222222222222222"[..25]);
        await store.UpdateAsync(tx =>
        {
            tx.Create(a);
            tx.Create(b);
        });
        var services = store.View().Services;

        Assert.Equal(a.Id, services.Resolve(a.Id, out _)!.Id);
        Assert.Equal(b.Id, services.Resolve("BETA", out _)!.Id);
        Assert.Equal(a.Id, services.Resolve("aaaa", out _)!.Id);
        Assert.Null(services.Resolve("aaa", out var ambiguous));
        Assert.Equal("service aaa is ambiguous (2 matches found)", ambiguous);
        Assert.Null(services.Resolve("zzz", out var missing));
        Assert.Equal("service zzz not found", missing);
    }

    [Fact]
    public async Task ByIdPrefix_FindsExactlyTheIdsStartingWithIt()
    {
        using var store = new MemoryStore();
        var nodes = Enumerable.Range(0, 300).Select(_ => Objects.Node()).ToList();
        await store.UpdateAsync(tx => nodes.ForEach(tx.Create));

        foreach (var prefix in new[] { "0", "a", "z9", nodes[17].Id[..3], nodes[42].Id })
        {
            var expected = nodes.Where(n => n.Id.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n.Id).Order(StringComparer.Ordinal);
            Assert.Equal(expected, store.View().Nodes.ByIdPrefix(prefix).Select(n => n.Id));
        }

        Assert.Empty(store.View().Nodes.ByIdPrefix(""));
    }

    [Fact]
    public async Task All_ListsEveryObjectInIdOrder()
    {
        using var store = new MemoryStore();
        var nodes = Enumerable.Range(0, 50).Select(_ => Objects.Node()).ToList();
        await store.UpdateAsync(tx => nodes.ForEach(tx.Create));

        Assert.Equal(nodes.Select(n => n.Id).Order(StringComparer.Ordinal), store.View().Nodes.All().Select(n => n.Id));
    }

    [Fact]
    public async Task TaskIndexes_FollowEveryChange()
    {
        using var store = new MemoryStore();
        var web = Objects.Service("web");
        var api = Objects.Service("api");
        var t1 = Objects.Task(web, slot: 1, nodeId: "n1", state: TaskState.Running);
        var t2 = Objects.Task(web, slot: 2, nodeId: "n2", state: TaskState.Pending);
        var t3 = Objects.Task(api, slot: 1, nodeId: "n1", state: TaskState.Running);
        await store.UpdateAsync(tx =>
        {
            tx.Create(web);
            tx.Create(api);
            tx.Create(t1);
            tx.Create(t2);
            tx.Create(t3);
        });

        var view = store.View();
        Assert.Equal(Ids(t1, t2), Ids(view.Tasks.ByService(web.Id)));
        Assert.Equal(Ids(t1, t3), Ids(view.Tasks.ByNode("n1")));
        Assert.Equal(Ids(t1), Ids(view.Tasks.BySlot(web.Id, 1)));
        Assert.Equal(Ids(t1, t3), Ids(view.Tasks.ByState(TaskState.Running)));
        Assert.Equal(Ids(t1, t2, t3), Ids(view.Tasks.ByDesiredState(TaskState.Running)));

        // t1 moves: new node, new state, desired shutdown.
        await store.UpdateAsync(tx =>
        {
            var t = tx.Tasks.Get(t1.Id)!.Clone();
            t.NodeId = "n2";
            t.Status.State = TaskState.Shutdown;
            t.DesiredState = TaskState.Shutdown;
            tx.Update(t);
        });

        view = store.View();
        Assert.Equal(Ids(t3), Ids(view.Tasks.ByNode("n1")));
        Assert.Equal(Ids(t1, t2), Ids(view.Tasks.ByNode("n2")));
        Assert.Equal(Ids(t3), Ids(view.Tasks.ByState(TaskState.Running)));
        Assert.Equal(Ids(t1), Ids(view.Tasks.ByState(TaskState.Shutdown)));
        Assert.Equal(Ids(t2, t3), Ids(view.Tasks.ByDesiredState(TaskState.Running)));
        Assert.Equal(Ids(t1), Ids(view.Tasks.ByDesiredState(TaskState.Shutdown)));
        Assert.DoesNotContain(view.Tasks.ByState(TaskState.Pending), t => t.Id == t1.Id);
    }

    [Fact]
    public async Task NodeIndexes_ByRoleAndMembership()
    {
        using var store = new MemoryStore();
        var manager = Objects.Node("m", NodeRole.Manager);
        var worker = Objects.Node("w", NodeRole.Worker);
        var pending = Objects.Node("p", NodeRole.Worker);
        pending.Spec.Membership = NodeMembership.Pending;
        await store.UpdateAsync(tx =>
        {
            tx.Create(manager);
            tx.Create(worker);
            tx.Create(pending);
        });

        Assert.Equal(Ids(manager), Ids(store.View().Nodes.ByRole(NodeRole.Manager)));
        Assert.Equal(Ids(worker, pending), Ids(store.View().Nodes.ByRole(NodeRole.Worker)));
        Assert.Equal(Ids(pending), Ids(store.View().Nodes.ByMembership(NodeMembership.Pending)));

        await store.UpdateAsync(tx =>
        {
            var n = tx.Nodes.Get(worker.Id)!.Clone();
            n.Role = NodeRole.Manager;
            tx.Update(n);
        });
        Assert.Equal(Ids(manager, worker), Ids(store.View().Nodes.ByRole(NodeRole.Manager)));
    }

    [Fact]
    public void ByIndex_WithAnUnknownIndexName_SaysWhichTable()
    {
        using var store = new MemoryStore();
        var error = Assert.Throws<ArgumentException>(() => store.View().Services.ByIndex("color", IndexKey.Of("red")));
        Assert.Contains("table service has no index 'color'", error.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Ids(params IStoreObject[] objects) => objects.Select(o => o.Id).Order(StringComparer.Ordinal);

    private static IEnumerable<string> Ids<T>(ObjectSet<T> set)
        where T : class, IStoreObject => set.Select(o => o.Id);
}
