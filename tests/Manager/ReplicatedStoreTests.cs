using Google.Protobuf;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Raft;
using Shoal.Raft.Core;
using Shoal.TestKit;

namespace Shoal.Manager.Tests;

/// <summary>Stores replicated by our Raft over real gRPC with mutual TLS, with WALs on disk.</summary>
public sealed class ReplicatedStoreTests
{
    [Fact]
    public async Task WritesOnTheLeader_AppearInEveryManagersStore_Identically()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var leader = group.Leader;

        for (var i = 0; i < 20; i++)
        {
            await leader.Store!.UpdateAsync(tx => tx.Create(Config($"c{i}")));
        }

        await Eventually.TrueAsync(() => group.Members.All(m => m.Store!.View().Configs.Count == 20), "every store has the 20 configs");
        await Eventually.TrueAsync(() => group.Members.Select(m => m.Digest()).Distinct().Count() == 1, "the stores are identical");
        Assert.Equal(3, leader.Raft!.Members.Count);
    }

    [Fact]
    public async Task AWriteOnAFollower_IsRefused_NamingTheLeader()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var leader = group.Leader;
        var follower = group.Members.First(m => m != leader);
        await Eventually.TrueAsync(() => follower.Raft!.Leadership.Leader == leader.Self.RaftId, "the follower knows the leader");

        var e = await Assert.ThrowsAsync<NotLeaderException>(() => follower.Store!.UpdateAsync(tx => tx.Create(Config("x"))).AsTask());

        Assert.Equal(leader.Self.RaftId, e.LeaderId);
        Assert.Equal(0, follower.Store!.View().Configs.Count);
    }

    [Fact]
    public async Task WhenTheLeaderStops_AnotherIsElected_AndTheOldOneCatchesUpOnRestart()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var first = group.Leader;
        await first.Store!.UpdateAsync(tx => tx.Create(Config("before")));

        await first.StopAsync();
        var second = await group.WaitForLeaderAsync();
        Assert.NotEqual(first, second);
        await second.Store!.UpdateAsync(tx => tx.Create(Config("after")));
        await first.StartRaftAsync();

        await Eventually.TrueAsync(() => first.Store!.View().Configs.Count == 2, "the restarted member has both writes", TimeSpan.FromSeconds(20));
        await Eventually.TrueAsync(() => group.Members.Select(m => m.Digest()).Distinct().Count() == 1, "the stores are identical");
    }

    [Fact]
    public async Task AMemberBehindTheCompactionPoint_IsBroughtUpByASnapshot_SentInChunks()
    {
        await using var group = await ManagerGroup.StartAsync(3, o => o with { SnapshotInterval = 50, LogEntriesForSlowFollowers = 10 });
        var lagging = group.Members.First(m => !m.Raft!.IsLeader);
        await lagging.StopAsync();
        var leader = await group.WaitForLeaderAsync();

        for (var i = 0; i < 150; i++)
        {
            // A few large objects make the snapshot several transport chunks long (1 MiB each).
            var config = Config($"c{i}");
            if (i % 30 == 0)
            {
                config.Spec.Data = ByteString.CopyFrom(new byte[600 * 1024]);
            }

            await leader.Store!.UpdateAsync(tx => tx.Create(config));
        }

        await Eventually.TrueAsync(() => leader.Raft!.StatusAsync().Result.FirstIndex > 20, "the leader compacted its log");
        await lagging.StartRaftAsync();

        await Eventually.TrueAsync(() => lagging.Store!.View().Configs.Count == 150, "the lagging member has every write", TimeSpan.FromSeconds(20));
        await Eventually.TrueAsync(() => group.Members.Select(m => m.Digest()).Distinct().Count() == 1, "the stores are identical");
    }

    [Fact]
    public async Task LeadershipTransfer_MovesTheLeaderToTheChosenMember()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var leader = group.Leader;
        var target = group.Members.First(m => m != leader);
        await leader.Store!.UpdateAsync(tx => tx.Create(Config("a")));

        await leader.Raft!.TransferLeadershipAsync(target.Self.RaftId);

        await Eventually.TrueAsync(() => target.Raft!.IsLeader, "the target leads");
        await target.Store!.UpdateAsync(tx => tx.Create(Config("b")));
        await Eventually.TrueAsync(() => leader.Store!.View().Configs.Count == 2, "the old leader follows");
    }

    [Fact]
    public async Task ReadIndex_OnAFollower_WaitsUntilItHasApplied_WhatWasCommittedBefore()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var leader = group.Leader;
        var follower = group.Members.First(m => m != leader);
        await leader.Store!.UpdateAsync(tx => tx.Create(Config("a")));

        await follower.Raft!.ReadIndexAsync();

        Assert.NotNull(follower.Store!.View().Configs.ByName("a").FirstOrDefault());
    }

    [Fact]
    public async Task RemovingAMember_ShrinksTheGroup_AndWritesGoOn()
    {
        await using var group = await ManagerGroup.StartAsync(3);
        var leader = group.Leader;
        var removed = group.Members.First(m => m != leader);

        await leader.Raft!.RemoveMemberAsync(removed.Self.RaftId);
        await removed.StopAsync();
        await leader.Store!.UpdateAsync(tx => tx.Create(Config("after")));

        Assert.Equal(2, leader.Raft.Members.Count);
        Assert.DoesNotContain(leader.Raft.Members, m => m.RaftId == removed.Self.RaftId);
    }

    [Fact]
    public async Task AWriteCheckedAgainstAStoreThatHasMovedOnSince_IsRefusedBeforeItEntersTheLog_AndCanBeRetried()
    {
        // The interleaving this guards: a member checks a write while it is a follower, then becomes leader and
        // applies entries it had not applied when it checked; the write's checks (names, versions) no longer hold.
        await using var group = await ManagerGroup.StartAsync(1);
        var leader = group.Leader;
        await leader.Store!.UpdateAsync(tx => tx.Create(Config("first")));
        var checkedAt = leader.Store.View().Version;
        await leader.Store.UpdateAsync(tx => tx.Create(Config("second")));
        var committed = false;

        var stale = await Assert.ThrowsAsync<Shoal.Store.StaleTransactionException>(() => leader.Proposer!.ProposeAsync(
            [new StoreAction { Kind = StoreActionKind.Create, Config = Config("second") }], checkedAt, _ => committed = true, TestContext.Current.CancellationToken).AsTask());

        Assert.False(committed);
        Assert.Equal((checkedAt, leader.Store.View().Version), (stale.PreparedAt, stale.Current));
        Assert.Equal(["first", "second"], leader.Store.View().Configs.All().Select(c => c.Spec.Annotations.Name).Order());

        // Retried, the write is checked against the current state: here its name is taken, so it is refused as such.
        await Assert.ThrowsAsync<Shoal.Store.NameConflictException>(() => leader.Store.UpdateAsync(tx => tx.Create(Config("second"))).AsTask());
        await leader.Store.UpdateAsync(tx => tx.Create(Config("third")));
        Assert.Equal(3, leader.Store.View().Configs.Count);
    }

    private static Config Config(string name) => new()
    {
        Id = Identity.NewId(),
        Meta = new Meta(),
        Spec = new ConfigSpec { Annotations = new Annotations { Name = name }, Data = ByteString.CopyFromUtf8(name) },
    };
}
