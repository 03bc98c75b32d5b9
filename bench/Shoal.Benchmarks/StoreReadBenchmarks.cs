using BenchmarkDotNet.Attributes;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// Reads against 10,000 nodes and 100,000 tasks. Our reads return the store's shared immutable instances; SwarmKit's
/// return deep copies, so the <c>*Cloned</c> variants add that copy to compare like with like.
/// </summary>
[Config(typeof(StoreBenchConfig))]
public class StoreReadBenchmarks
{
    private StoreFixture _fixture = null!;
    private int _next;

    [GlobalSetup]
    public async Task SetupAsync() => _fixture = await StoreFixture.SharedAsync();

    /// <summary>Mirrors SwarmKit <c>BenchmarkGetNode</c>: one lookup by id in a read transaction (0.89 µs, 512 B).</summary>
    [Benchmark]
    public Node? GetNode()
    {
        var ids = _fixture.NodeIds;
        return _fixture.Store.View().Nodes.Get(ids[_next++ % ids.Length]);
    }

    /// <summary><see cref="GetNode"/> plus the deep copy SwarmKit's <c>GetNode</c> makes.</summary>
    [Benchmark]
    public Node? GetNodeCloned()
    {
        var ids = _fixture.NodeIds;
        return _fixture.Store.View().Nodes.Get(ids[_next++ % ids.Length])?.Clone();
    }

    /// <summary>One task by id, in a table of 100,000 (no SwarmKit counterpart).</summary>
    [Benchmark]
    public SwarmTask? GetTask()
    {
        var ids = _fixture.TaskIds;
        return _fixture.Store.View().Tasks.Get(ids[_next++ % ids.Length]);
    }

    /// <summary>The 100 tasks of one service, enumerated (no SwarmKit benchmark; <c>FindTasks(ByServiceID)</c>).</summary>
    [Benchmark]
    public int FindTasksByService()
    {
        var ids = _fixture.ServiceIds;
        var n = 0;
        foreach (var task in _fixture.Store.View().Tasks.ByService(ids[_next++ % ids.Length]))
        {
            n += (int)task.Slot;
        }

        return n;
    }

    /// <summary>The 10 tasks of one node, enumerated (no SwarmKit benchmark; <c>FindTasks(ByNodeID)</c>).</summary>
    [Benchmark]
    public int FindTasksByNode()
    {
        var ids = _fixture.NodeIds;
        var n = 0;
        foreach (var task in _fixture.Store.View().Tasks.ByNode(ids[_next++ % ids.Length]))
        {
            n += (int)task.Slot;
        }

        return n;
    }

    /// <summary>Mirrors SwarmKit <c>BenchmarkFindAllNodes</c> (<c>FindNodes(tx, All)</c>, 5.7 ms): all 10,000 nodes
    /// copied out into a list, as shared instances.</summary>
    [Benchmark]
    public List<Node> FindAllNodes()
    {
        var all = _fixture.Store.View().Nodes.All();
        var list = new List<Node>(all.Count);
        foreach (var node in all)
        {
            list.Add(node);
        }

        return list;
    }

    /// <summary><see cref="FindAllNodes"/> with a deep copy of each node: the same work as SwarmKit's.</summary>
    [Benchmark]
    public List<Node> FindAllNodesCloned()
    {
        var all = _fixture.Store.View().Nodes.All();
        var list = new List<Node>(all.Count);
        foreach (var node in all)
        {
            list.Add(node.Clone());
        }

        return list;
    }
}
