using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

public class ProposerTests
{
    [Fact]
    public async Task WithAProposer_VersionsAreTheCommittedIndexes()
    {
        var proposer = new ScriptedProposer(firstIndex: 41);
        using var store = new MemoryStore(proposer);
        var node = Objects.Node();

        await store.UpdateAsync(tx => tx.Create(node));
        await store.UpdateAsync(tx => tx.Create(Objects.Node()));

        Assert.Equal(41UL, store.View().Nodes.Get(node.Id)!.Meta.Version);
        Assert.Equal(42UL, store.Version);
        Assert.Equal([41UL, 42UL], proposer.Log.Select(e => e.Index));
    }

    [Fact]
    public async Task AWrite_IsInvisibleUntilCommitted()
    {
        var proposer = new ScriptedProposer { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var store = new MemoryStore(proposer);
        var node = Objects.Node();

        var write = store.UpdateAsync(tx => tx.Create(node)).AsTask();
        await Eventually.TrueAsync(() => proposer.Proposals == 1, "the proposal to reach the proposer");

        Assert.Null(store.View().Nodes.Get(node.Id));
        Assert.False(write.IsCompleted);

        proposer.Gate.SetResult();
        await write;
        Assert.NotNull(store.View().Nodes.Get(node.Id));
    }

    [Fact]
    public async Task AFailedProposal_LeavesTheStoreAndWatchersUntouched()
    {
        var proposer = new ScriptedProposer { FailNext = new OperationCanceledException("leadership lost") };
        using var store = new MemoryStore(proposer);
        var watcher = store.Watch(new WatchOptions { IncludeCommits = true });

        await Assert.ThrowsAsync<OperationCanceledException>(() => store.UpdateAsync(tx => tx.Create(Objects.Node())).AsTask());

        Assert.Equal(0, store.View().Nodes.Count);
        Assert.Equal(0UL, store.Version);
        Assert.False(watcher.TryRead(out _));
    }

    [Fact]
    public async Task AForeignEntryCommittedWhileOursIsInFlight_IsAppliedFirst_AndEveryStoreAgrees()
    {
        var proposer = new ScriptedProposer { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var leader = new MemoryStore(proposer);
        using var follower = new MemoryStore();
        proposer.AddFollower(follower);
        var service = Objects.Service("web", replicas: 1);
        proposer.Gate.SetResult();
        await leader.UpdateAsync(tx => tx.Create(service));
        proposer.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Ours: scale to 3 (in flight). Foreign (an earlier leader's entry): rename and scale to 2, committed first.
        var ours = leader.View().Services.Get(service.Id)!.Clone();
        ours.Spec.Replicated.Replicas = 3;
        var write = leader.UpdateAsync(tx => tx.Update(ours)).AsTask();
        await Eventually.TrueAsync(() => proposer.Proposals == 2, "our proposal to be in flight");
        var foreign = leader.View().Services.Get(service.Id)!.Clone();
        foreign.Spec.Replicated.Replicas = 2;
        foreign.Spec.Annotations.Labels["from"] = "old-leader";
        proposer.CommitForeign(leader, [new StoreAction { Kind = StoreActionKind.Update, Service = foreign }]);
        proposer.Gate.SetResult();
        await write;

        var onLeader = leader.View().Services.Get(service.Id)!;
        Assert.Equal(3, onLeader.Spec.Replicated.Replicas);
        Assert.DoesNotContain("from", onLeader.Spec.Annotations.Labels.Keys);
        Assert.Equal(leader.Save(), follower.Save());
    }

    [Fact]
    public async Task AFollower_FedTheLog_EndsIdenticalToTheLeader()
    {
        var proposer = new ScriptedProposer();
        using var leader = new MemoryStore(proposer);
        using var follower = new MemoryStore();
        proposer.AddFollower(follower);
        var followerEvents = follower.Watch(new WatchOptions { Capacity = 100_000 });

        var service = Objects.Service("web");
        await leader.UpdateAsync(tx => tx.Create(service));
        var tasks = Enumerable.Range(1, 300).Select(slot => Objects.Task(service, slot)).ToList();
        await leader.BatchAsync(async batch =>
        {
            foreach (var task in tasks)
            {
                await batch.UpdateAsync(tx => tx.Create(task));
            }
        });
        await leader.UpdateAsync(tx =>
        {
            tx.Delete<SwarmTask>(tasks[0].Id);
            var t = tx.Tasks.Get(tasks[1].Id)!.Clone();
            t.Status.State = TaskState.Running;
            tx.Update(t);
        });

        Assert.Equal(leader.Save(), follower.Save());
        Assert.Equal(299, follower.View().Tasks.ByService(service.Id).Count);
        Assert.Single(follower.View().Tasks.ByState(TaskState.Running));
        var kinds = new List<StoreEventKind>();
        while (followerEvents.TryRead(out var e))
        {
            kinds.Add(e.Kind);
        }

        Assert.Equal(301, kinds.Count(k => k == StoreEventKind.Create));
        Assert.Single(kinds, StoreEventKind.Delete);
        Assert.Single(kinds, StoreEventKind.Update);
    }

    [Fact]
    public async Task ApplyStoreActions_CopiesIncomingObjects()
    {
        using var store = new MemoryStore();
        var node = Objects.Node("before");

        store.ApplyStoreActions([new StoreAction { Kind = StoreActionKind.Create, Node = node }], 7);
        node.Description.Hostname = "after";

        var stored = store.View().Nodes.Get(node.Id)!;
        Assert.Equal("before", stored.Description.Hostname);
        Assert.Equal(7UL, stored.Meta.Version);
        Assert.Equal(7UL, store.Version);
        await Task.CompletedTask;
    }
}
