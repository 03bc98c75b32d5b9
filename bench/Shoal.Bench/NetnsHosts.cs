using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Shoal.Bench;

/// <summary>
/// Simulated hosts for network faults: a Linux bridge on the host and one network namespace per "host", each joined to
/// the bridge by a veth pair and holding one address of a /24 (<c>10.a.b.11</c>, <c>.12</c>, …; the bridge is
/// <c>.1</c>). Names and the subnet carry a random suffix so that concurrent runs do not collide. Faults: a host cut
/// off from everything (its veth down), two hosts cut from each other both ways, and one direction dropped
/// (iptables inside a namespace; no <c>tc netem</c> here). <see cref="HealAsync"/> undoes every fault; disposing
/// deletes the namespaces, the bridge and the host's iptables rule. Needs root, <c>ip</c> and <c>iptables</c>
/// (<see cref="Unavailable"/> says what is missing).
/// </summary>
public sealed class NetnsHosts : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private readonly List<NetnsHost> _hosts = [];
    private readonly List<(NetnsHost Host, string[] Rule)> _rules = [];
    private readonly HashSet<NetnsHost> _isolated = [];
    private readonly Lock _lock = new();
    private readonly Action<string>? _log;
    private bool _forwardRule;
    private bool _bridge;

    private NetnsHosts(string suffix, string subnetPrefix, Action<string>? log)
    {
        Suffix = suffix;
        SubnetPrefix = subnetPrefix;
        Bridge = "shbr" + suffix;
        _log = log;
    }

    /// <summary>The random suffix of every name (6 hex digits).</summary>
    public string Suffix { get; }

    /// <summary>The bridge's name (<c>shbr&lt;suffix&gt;</c>).</summary>
    public string Bridge { get; }

    /// <summary>The first three octets of the subnet, e.g. <c>10.153.7</c>.</summary>
    public string SubnetPrefix { get; }

    /// <summary>The bridge's (the host's) address on the subnet.</summary>
    public string BridgeAddress => SubnetPrefix + ".1";

    /// <summary>The hosts, in order.</summary>
    public IReadOnlyList<NetnsHost> Hosts => _hosts;

    /// <summary>Host <paramref name="index"/> (0-based).</summary>
    public NetnsHost this[int index] => _hosts[index];

    /// <summary>Why hosts cannot be made here (not root, no <c>ip</c> or <c>iptables</c>), or null when they can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        if (GetEffectiveUserId() != 0)
        {
            return "network namespaces, veth pairs and iptables rules need root (CI runs these tests as root)";
        }

        foreach (var tool in new[] { "ip", "iptables" })
        {
            var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
            if (!path.Split(':').Append("/usr/sbin").Append("/sbin").Any(d => File.Exists(Path.Combine(d, tool))))
            {
                return $"`{tool}` is not installed (apt-get install iproute2 iptables)";
            }
        }

        return null;
    }

    /// <summary>
    /// Creates the bridge and <paramref name="count"/> namespaces with their veth pairs and addresses, loopback and
    /// eth0 up in each, and lets bridged traffic through the host's FORWARD chain (dockerd's rules drop it otherwise).
    /// Anything made before a failure is removed again.
    /// </summary>
    public static async Task<NetnsHosts> CreateAsync(int count, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 200);
        if (Unavailable() is { } reason)
        {
            throw new InvalidOperationException("cannot create network-namespace hosts: " + reason);
        }

        var suffix = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 3));
        var subnet = string.Create(CultureInfo.InvariantCulture, $"10.{Random.Shared.Next(100, 200)}.{Random.Shared.Next(0, 256)}");
        var hosts = new NetnsHosts(suffix, subnet, log);
        try
        {
            await hosts.RunAsync(cancellationToken, "ip", "link", "add", hosts.Bridge, "type", "bridge");
            hosts._bridge = true;
            await hosts.RunAsync(cancellationToken, "ip", "addr", "add", hosts.BridgeAddress + "/24", "dev", hosts.Bridge);
            await hosts.RunAsync(cancellationToken, "ip", "link", "set", hosts.Bridge, "up");
            await hosts.RunAsync(cancellationToken, "iptables", "-I", "FORWARD", "-i", hosts.Bridge, "-o", hosts.Bridge, "-j", "ACCEPT");
            hosts._forwardRule = true;
            for (var i = 1; i <= count; i++)
            {
                var host = new NetnsHost(
                    i - 1,
                    $"shoal-{suffix}-{i.ToString(CultureInfo.InvariantCulture)}",
                    $"shv{suffix}{i.ToString(CultureInfo.InvariantCulture)}",
                    $"{subnet}.{(10 + i).ToString(CultureInfo.InvariantCulture)}");
                await hosts.RunAsync(cancellationToken, "ip", "netns", "add", host.Namespace);
                hosts._hosts.Add(host);
                await hosts.RunAsync(cancellationToken, "ip", "link", "add", host.HostVeth, "type", "veth", "peer", "name", "eth0", "netns", host.Namespace);
                await hosts.RunAsync(cancellationToken, "ip", "link", "set", host.HostVeth, "master", hosts.Bridge, "up");
                await hosts.RunAsync(cancellationToken, "ip", "-n", host.Namespace, "addr", "add", host.Address + "/24", "dev", "eth0");
                await hosts.RunAsync(cancellationToken, "ip", "-n", host.Namespace, "link", "set", "lo", "up");
                await hosts.RunAsync(cancellationToken, "ip", "-n", host.Namespace, "link", "set", "eth0", "up");
            }

            return hosts;
        }
        catch
        {
            await hosts.DisposeAsync();
            throw;
        }
    }

    /// <summary>Cuts <paramref name="host"/> off from every other host: the host side of its veth goes down (packets are lost, not refused).</summary>
    public async Task IsolateAsync(NetnsHost host, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        await RunAsync(cancellationToken, "ip", "link", "set", host.HostVeth, "down");
        lock (_lock)
        {
            _isolated.Add(host);
        }

        _log?.Invoke($"netns: {host} isolated (veth {host.HostVeth} down)");
    }

    /// <summary>Cuts <paramref name="a"/> and <paramref name="b"/> from each other both ways (iptables DROP in <paramref name="a"/>'s INPUT and OUTPUT).</summary>
    public async Task CutAsync(NetnsHost a, NetnsHost b, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        await AddRuleAsync(a, ["OUTPUT", "-d", b.Address, "-j", "DROP"], cancellationToken);
        await AddRuleAsync(a, ["INPUT", "-s", b.Address, "-j", "DROP"], cancellationToken);
        _log?.Invoke($"netns: {a} and {b} cut from each other");
    }

    /// <summary>Drops every packet <paramref name="from"/> sends to <paramref name="to"/> (iptables OUTPUT DROP in <paramref name="from"/>); the other direction still flows.</summary>
    public async Task DropAsync(NetnsHost from, NetnsHost to, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        await AddRuleAsync(from, ["OUTPUT", "-d", to.Address, "-j", "DROP"], cancellationToken);
        _log?.Invoke($"netns: packets {from} → {to} dropped");
    }

    /// <summary>Undoes every fault: the iptables rules are deleted and isolated hosts' veths come up again.</summary>
    public async Task HealAsync(CancellationToken cancellationToken = default)
    {
        List<(NetnsHost Host, string[] Rule)> rules;
        List<NetnsHost> isolated;
        lock (_lock)
        {
            rules = [.. _rules];
            isolated = [.. _isolated];
            _rules.Clear();
            _isolated.Clear();
        }

        foreach (var (host, rule) in rules)
        {
            await RunAsync(cancellationToken, ["ip", "netns", "exec", host.Namespace, "iptables", "-D", .. rule]);
        }

        foreach (var host in isolated)
        {
            await RunAsync(cancellationToken, "ip", "link", "set", host.HostVeth, "up");
        }

        _log?.Invoke("netns: healed");
    }

    /// <summary>Deletes the namespaces (their veths and iptables rules go with them), the bridge and the FORWARD rule; errors are logged, not thrown.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await TryRunAsync("ip", "netns", "del", host.Namespace);
        }

        _hosts.Clear();
        if (_forwardRule)
        {
            await TryRunAsync("iptables", "-D", "FORWARD", "-i", Bridge, "-o", Bridge, "-j", "ACCEPT");
            _forwardRule = false;
        }

        if (_bridge)
        {
            await TryRunAsync("ip", "link", "del", Bridge);
            _bridge = false;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{_hosts.Count} hosts on {Bridge} ({SubnetPrefix}.0/24)";

    private async Task AddRuleAsync(NetnsHost host, string[] rule, CancellationToken cancellationToken)
    {
        await RunAsync(cancellationToken, ["ip", "netns", "exec", host.Namespace, "iptables", "-A", .. rule]);
        lock (_lock)
        {
            _rules.Add((host, rule));
        }
    }

    private async Task TryRunAsync(params string[] command)
    {
        try
        {
            await RunAsync(CancellationToken.None, command);
        }
        catch (InvalidOperationException e)
        {
            _log?.Invoke("netns: cleanup step failed: " + e.Message);
        }
    }

    /// <summary>Runs <paramref name="command"/>; a non-zero exit throws with the command and its stderr.</summary>
    private async Task RunAsync(CancellationToken cancellationToken, params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new InvalidOperationException($"`{string.Join(' ', command)}` did not finish within {CommandTimeout.TotalSeconds:0} s");
        }

        await output;
        var stderr = (await error).Trim();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{string.Join(' ', command)}` exited with {process.ExitCode}: {stderr}");
        }
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint GetEffectiveUserId();
}

/// <summary>
/// One simulated host of <see cref="NetnsHosts"/>: network namespace <paramref name="Namespace"/>, the host-side veth
/// <paramref name="HostVeth"/> on the bridge, and <paramref name="Address"/> on its <c>eth0</c>.
/// </summary>
public sealed record NetnsHost(int Index, string Namespace, string HostVeth, string Address)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Namespace} ({Address})";
}
