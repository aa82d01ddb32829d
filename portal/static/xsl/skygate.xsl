<?xml version="1.0" encoding="UTF-8"?>
<!-- Skygate's documents as pages in a browser: UWS jobs, VOSI capabilities / tables / availability,
     VOTable errors. Applied by the browser through the <?xml-stylesheet?> PI (portal/readable.py);
     machine clients ignore it. XSLT 1.0, the version browsers implement. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"
    xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
    xmlns:avail="http://www.ivoa.net/xml/VOSIAvailability/v1.0"
    xmlns:vtables="http://www.ivoa.net/xml/VOSITables/v1.0"
    xmlns:vot="http://www.ivoa.net/xml/VOTable/v1.3"
    exclude-result-prefixes="uws xlink vosi avail vtables vot">
<xsl:output method="html" encoding="UTF-8" doctype-system="about:legacy-compat"/>

<xsl:template name="page">
  <xsl:param name="title"/>
  <xsl:param name="body"/>
  <html lang="en"><head><meta charset="utf-8"/><title><xsl:value-of select="$title"/> — Skygate</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 75em; margin: 1em auto; padding: 0 1.5em; line-height: 1.45; color: #1b1f24; }
    table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #d0d7de; padding: .2em .5em; text-align: left; vertical-align: top; }
    thead th { background: #f6f8fa; } code, pre { font-family: ui-monospace, monospace; } pre { background: #f6f8fa; padding: .5em; white-space: pre-wrap; }
    .note { color: #57606a; } .error { color: #b3261e; } a { color: #0b5cad; }
  </style></head>
  <body><p class="note"><a href="/">Skygate</a> · this page is the XML document below, shown by a stylesheet;
  programs receive the XML itself (view the page source).</p>
  <h1><xsl:value-of select="$title"/></h1><xsl:copy-of select="$body"/></body></html>
</xsl:template>

<!-- UWS 1.1 job list -->
<xsl:template match="/uws:jobs">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Job list</xsl:with-param>
    <xsl:with-param name="body">
      <p><xsl:value-of select="count(uws:jobref)"/> jobs.</p>
      <table><thead><tr><th>job</th><th>name</th><th>phase</th><th>owner</th><th>created</th></tr></thead><tbody>
      <xsl:for-each select="uws:jobref">
        <tr><td><a href="{@xlink:href}"><xsl:value-of select="@id"/></a></td><td><xsl:value-of select="uws:runId"/></td>
        <td><xsl:value-of select="uws:phase"/></td><td><xsl:value-of select="uws:ownerId"/></td>
        <td><xsl:value-of select="uws:creationTime"/></td></tr>
      </xsl:for-each></tbody></table>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>

<!-- UWS 1.1 job -->
<xsl:template match="/uws:job">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Job <xsl:value-of select="uws:jobId"/> — <xsl:value-of select="uws:phase"/></xsl:with-param>
    <xsl:with-param name="body">
      <table><tbody>
      <xsl:for-each select="uws:runId|uws:ownerId|uws:phase|uws:quote|uws:creationTime|uws:startTime|uws:endTime|uws:executionDuration|uws:destruction">
        <tr><th><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each></tbody></table>
      <h2>Parameters</h2>
      <table><tbody><xsl:for-each select="uws:parameters/uws:parameter">
        <tr><th><xsl:value-of select="@id"/></th><td><pre><xsl:value-of select="."/></pre></td></tr>
      </xsl:for-each></tbody></table>
      <h2>Results</h2>
      <ul><xsl:for-each select="uws:results/uws:result">
        <li><a href="{@xlink:href}"><xsl:value-of select="@id"/></a></li>
      </xsl:for-each></ul>
      <xsl:if test="uws:errorSummary">
        <h2 class="error">Error</h2><p class="error"><xsl:value-of select="uws:errorSummary/uws:message"/></p>
      </xsl:if>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>

<!-- VOSI capabilities -->
<xsl:template match="/vosi:capabilities">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Capabilities</xsl:with-param>
    <xsl:with-param name="body">
      <table><thead><tr><th>standard</th><th>interface</th><th>access URL</th></tr></thead><tbody>
      <xsl:for-each select="capability">
        <tr><td><code><xsl:value-of select="@standardID"/></code></td>
        <td><xsl:value-of select="interface/@role"/><xsl:text> </xsl:text><xsl:value-of select="interface/@version"/></td>
        <td><xsl:for-each select="interface/accessURL"><a href="{.}"><xsl:value-of select="."/></a><br/></xsl:for-each></td></tr>
      </xsl:for-each></tbody></table>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>

<!-- VOSI availability -->
<xsl:template match="/avail:availability">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Availability: <xsl:choose><xsl:when test="avail:available = 'true'">available</xsl:when><xsl:otherwise>not available</xsl:otherwise></xsl:choose></xsl:with-param>
    <xsl:with-param name="body">
      <xsl:if test="avail:upSince"><p>Up since <xsl:value-of select="avail:upSince"/></p></xsl:if>
      <ul><xsl:for-each select="avail:note"><li><xsl:value-of select="."/></li></xsl:for-each></ul>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>

<!-- VOSI tables: the tableset and one table -->
<xsl:template match="/vtables:tableset">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Tables</xsl:with-param>
    <xsl:with-param name="body">
      <xsl:for-each select="schema">
        <h2><xsl:value-of select="name"/></h2><p><xsl:value-of select="description"/></p>
        <xsl:for-each select="table"><xsl:call-template name="table"/></xsl:for-each>
      </xsl:for-each>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>

<xsl:template match="/vtables:table">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Table <xsl:value-of select="name"/></xsl:with-param>
    <xsl:with-param name="body"><xsl:call-template name="table"/></xsl:with-param>
  </xsl:call-template>
</xsl:template>

<xsl:template name="table">
  <h3><code><xsl:value-of select="name"/></code></h3><p><xsl:value-of select="description"/></p>
  <xsl:if test="column">
    <table><thead><tr><th>column</th><th>type</th><th>unit</th><th>UCD</th><th>description</th></tr></thead><tbody>
    <xsl:for-each select="column">
      <tr><td><code><xsl:value-of select="name"/></code></td><td><xsl:value-of select="dataType"/></td>
      <td><xsl:value-of select="unit"/></td><td><xsl:value-of select="ucd"/></td><td><xsl:value-of select="description"/></td></tr>
    </xsl:for-each></tbody></table>
  </xsl:if>
</xsl:template>

<!-- A VOTable error document (DALI §5.2) -->
<xsl:template match="/vot:VOTABLE">
  <xsl:call-template name="page">
    <xsl:with-param name="title">Error</xsl:with-param>
    <xsl:with-param name="body">
      <xsl:for-each select="//vot:INFO[@name='QUERY_STATUS']">
        <p class="error"><xsl:value-of select="@value"/>: <xsl:value-of select="."/></p>
      </xsl:for-each>
    </xsl:with-param>
  </xsl:call-template>
</xsl:template>
</xsl:stylesheet>
