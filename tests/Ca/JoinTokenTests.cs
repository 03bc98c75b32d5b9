using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Tests;

public sealed partial class JoinTokenTests
{
    private static readonly byte[] RootDer = CreateRootDer();

    [GeneratedRegex("^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")]
    private static partial Regex Shape();

    [Fact]
    public void AGeneratedToken_HasTheSwarmShape_AndPinsTheRootCa()
    {
        var token = JoinToken.Generate(RootDer);

        Assert.Matches(Shape(), token.Value);
        Assert.Equal(JoinToken.Length, token.Value.Length);
        Assert.True(token.IsForCa(RootDer));
        Assert.False(token.IsForCa(CreateRootDer()));
        Assert.Equal(JoinToken.DigestOf(RootDer), token.CaDigest);
    }

    [Fact]
    public void TwoTokensForOneCa_ShareTheDigest_ButNotTheSecret()
    {
        var a = JoinToken.Generate(RootDer);
        var b = JoinToken.Generate(RootDer);

        Assert.Equal(a.CaDigest, b.CaDigest);
        Assert.NotEqual(a.Value, b.Value);
        Assert.False(a.Matches(b.Value));
        Assert.True(a.Matches(a.Value));
        Assert.False(a.Matches(null));
    }

    [Fact]
    public void ToString_MasksTheSecret()
    {
        var token = JoinToken.Generate(RootDer);

        Assert.DoesNotContain(token.Value[^JoinToken.SecretLength..], token.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("SWMTKN-1-" + token.CaDigest + "-", token.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(token.Value[^JoinToken.SecretLength..], $"{token}", StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AcceptsAGeneratedToken_WithSurroundingWhitespace()
    {
        var token = JoinToken.Generate(RootDer);

        Assert.Equal(token.Value, JoinToken.Parse("  " + token.Value + "\n").Value);
    }

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("   ", "empty")]
    [InlineData("token", "not a join token")]
    [InlineData("SWMTKN-2-1-aaaa-bbbb", "unsupported version")]
    [InlineData("SWMTKN-1-abc", "malformed")]
    [InlineData("SWMTKN-1-0000000000000000000000000000000000000000000000000X-0000000000000000000000000", "outside [0-9a-z]")]
    [InlineData("SWMTKN-1-00000000000000000000000000000000000000000000000000_0000000000000000000000000", "malformed")]
    public void Parse_RefusesMalformedTokens_SayingWhat(string? text, string expected)
    {
        Assert.False(JoinToken.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => JoinToken.Parse(text));
    }

    [Fact]
    public void AnyChangeToAToken_MakesItNotMatch()
    {
        var token = JoinToken.Generate(RootDer);
        var alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
        var edits = Gen.Choose(JoinToken.Prefix.Length, JoinToken.Length - 1)
            .SelectMany(position => Gen.Elements(alphabet.ToCharArray()).Select(c => (position, c)))
            .Where(edit => token.Value[edit.position] != edit.c && token.Value[edit.position] != '-');

        Prop.ForAll(edits.ToArbitrary(), edit =>
        {
            var changed = token.Value[..edit.position] + edit.c + token.Value[(edit.position + 1)..];
            return !token.Matches(changed);
        }).QuickCheckThrowOnFailure();
    }

    private static byte[] CreateRootDer()
    {
        using var ca = RootCertificateAuthority.Create(DateTimeOffset.UtcNow);
        return ca.Certificate.RawData;
    }
}
