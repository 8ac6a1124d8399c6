/* The province's dashboard: fetches GET /v1/reports/progress with the user's token and draws
   it as charts (inline SVG) and tables, and the supervision of the year chosen
   (GET /v1/reports/supervision?year=). The token comes in the URL fragment
   (/dashboard#token=<JWT>), which browsers never send to the server; it is kept for the tab's
   session only and removed from the address bar. Every figure is also shown as text. */
(function () {
  "use strict";

  var REPORT = "/v1/reports/progress";
  var SUPERVISION = "/v1/reports/supervision";
  var DUTY_NAMES = {
    backbone_college: "骨干高职高专院校", public_secondary_in_every_county: "每县公办中职学校",
    rebuilt_school: "楚怡中职学校改扩建"
  };
  var XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  var TOKEN_KEY = "chuyi.dashboard.token";
  var SVG = "http://www.w3.org/2000/svg";
  var SOURCE_NAMES = {
    provincial_special: "省财政专项补助", local_special_bond: "地方政府专项债券",
    local_government: "市州、县市区投入", social: "社会资金"
  };

  function byId(id) { return document.getElementById(id); }

  function element(tag, attributes, children, namespace) {
    var node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      // A style attribute would need 'unsafe-inline' in the Content-Security-Policy; the CSSOM does not.
      if (name === "style") { node.style.cssText = attributes[name]; } else { node.setAttribute(name, attributes[name]); }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function svg(tag, attributes, children) { return element(tag, attributes, children, SVG); }

  function yuan(fen) {
    var sign = fen < 0 ? "-" : "";
    var whole = Math.floor(Math.abs(fen) / 100);
    var cents = Math.abs(fen) % 100;
    return sign + whole.toLocaleString("zh-CN") + "." + (cents < 10 ? "0" : "") + cents + " 元";
  }

  function tenThousandYuan(fen) { return (fen / 1000000).toFixed(2); }

  function percent(part, whole) {
    return whole ? (Math.round(part * 1000 / whole) / 10).toFixed(1) + "%" : "—";
  }

  function beijingTime(rfc3339) {
    return new Date(rfc3339).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }

  function setState(state, message) {
    document.body.setAttribute("data-state", state);
    byId("status").textContent = message;
  }

  function takeToken() {
    var fragment = new URLSearchParams(window.location.hash.slice(1));
    var token = fragment.get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askForToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    byId("report").hidden = true;
    byId("token-form").hidden = false;
    setState("needs-token", message);
  }

  function cell(field, text, raw) {
    var attributes = { "data-field": field };
    if (raw !== undefined) { attributes["data-value"] = String(raw); }
    return element("td", attributes, [text]);
  }

  function moneyCell(field, money) { return cell(field, yuan(money.total), money.total); }

  function figureCells(row) {
    return [
      moneyCell("allocated", row.allocated), moneyCell("disbursed", row.disbursed),
      cell("mid_term_passed", row.milestones_passed.mid_term), cell("acceptance_passed", row.milestones_passed.acceptance)
    ];
  }

  function renderSummary(report) {
    var totals = report.totals;
    var items = [
      ["approved", "已立项 / 目标", totals.approved + " / " + totals.quota],
      ["completion", "总体完成率", percent(totals.approved, totals.quota)],
      ["allocated", "下达资金", yuan(totals.allocated.total)],
      ["disbursed", "已拨付", yuan(totals.disbursed.total)],
      ["milestones", "中期检查 / 验收通过", totals.milestones_passed.mid_term + " / " + totals.milestones_passed.acceptance]
    ];
    byId("summary").replaceChildren.apply(byId("summary"), items.map(function (item) {
      return element("div", {}, [element("dt", {}, [item[1]]), element("dd", { "data-field": item[0] }, [item[2]])]);
    }));
  }

  function renderCategoryChart(categories) {
    var rowHeight = 26, label = 300, barWidth = 300, width = label + barWidth + 120;
    var chart = byId("category-chart");
    chart.setAttribute("viewBox", "0 0 " + width + " " + (categories.length * rowHeight + 4));
    chart.setAttribute("aria-label", categories.map(function (c) {
      return c.name_zh + " " + c.approved + "/" + (c.quota === null ? "—" : c.quota);
    }).join("；"));
    chart.replaceChildren.apply(chart, categories.map(function (c, index) {
      var y = index * rowHeight + 4;
      var share = c.quota ? Math.min(c.approved / c.quota, 1) : 0;
      return svg("g", { "data-category": c.code }, [
        svg("title", {}, [c.name_zh + "：已立项 " + c.approved + "，目标 " + c.quota]),
        svg("text", { x: label - 8, y: y + 14, "text-anchor": "end" }, [c.name_zh]),
        svg("rect", { "class": "quota", x: label, y: y + 3, width: barWidth, height: 14 }),
        svg("rect", { "class": "done", x: label, y: y + 3, width: Math.round(barWidth * share), height: 14 }),
        svg("text", { x: label + barWidth + 8, y: y + 14 },
            [c.approved + " / " + (c.quota === null ? "—" : c.quota) + "（" + percent(c.approved, c.quota) + "）"])
      ]);
    }));
  }

  function renderMoney(report) {
    var totals = report.totals;
    var largest = Math.max.apply(null, report.sources.map(function (s) { return totals.allocated.by_source[s]; }).concat([1]));
    var rowHeight = 48, label = 130, barWidth = 220, width = label + barWidth + 90;
    var chart = byId("money-chart");
    chart.setAttribute("viewBox", "0 0 " + width + " " + (report.sources.length * rowHeight + 4));
    chart.replaceChildren.apply(chart, report.sources.map(function (source, index) {
      var y = index * rowHeight + 4;
      var allocated = totals.allocated.by_source[source], disbursed = totals.disbursed.by_source[source];
      return svg("g", { "data-source": source }, [
        svg("text", { x: label - 8, y: y + 24, "text-anchor": "end" }, [SOURCE_NAMES[source] || source]),
        svg("rect", { "class": "allocated", x: label, y: y + 4, height: 16,
                      width: Math.round(barWidth * allocated / largest) }),
        svg("text", { x: label + Math.round(barWidth * allocated / largest) + 6, y: y + 17 }, [tenThousandYuan(allocated)]),
        svg("rect", { "class": "disbursed", x: label, y: y + 22, height: 16,
                      width: Math.round(barWidth * disbursed / largest) }),
        svg("text", { x: label + Math.round(barWidth * disbursed / largest) + 6, y: y + 35 }, [tenThousandYuan(disbursed)])
      ]);
    }));
    var body = byId("source-table").tBodies[0];
    body.replaceChildren.apply(body, report.sources.map(function (source) {
      return element("tr", { "data-source": source }, [
        element("th", { scope: "row" }, [SOURCE_NAMES[source] || source]),
        cell("allocated", yuan(totals.allocated.by_source[source]), totals.allocated.by_source[source]),
        cell("disbursed", yuan(totals.disbursed.by_source[source]), totals.disbursed.by_source[source]),
        cell("clawed_back", yuan(totals.clawed_back.by_source[source]), totals.clawed_back.by_source[source])
      ]);
    }));
  }

  function renderCategoryTable(report) {
    var table = byId("category-table");
    table.tBodies[0].replaceChildren.apply(table.tBodies[0], report.categories.map(function (c) {
      return element("tr", { "data-category": c.code }, [
        element("td", { "data-field": "name" }, [c.name_zh]),
        cell("quota", c.quota === null ? "—" : c.quota, c.quota === null ? "" : c.quota),
        cell("approved", c.approved), cell("completion", percent(c.approved, c.quota)),
        cell("funded_projects", c.funded_projects)
      ].concat(figureCells(c)));
    }));
    var totals = report.totals;
    table.tFoot.replaceChildren(element("tr", { "data-category": "total" }, [
      element("td", { "data-field": "name" }, ["合计"]), cell("quota", totals.quota), cell("approved", totals.approved),
      cell("completion", percent(totals.approved, totals.quota)), cell("funded_projects", totals.funded_projects)
    ].concat(figureCells(totals))));
  }

  function renderPrefectureTable(report) {
    var most = Math.max.apply(null, report.prefectures.map(function (p) { return p.approved; }).concat([1]));
    var body = byId("prefecture-table").tBodies[0];
    body.replaceChildren.apply(body, report.prefectures.map(function (p) {
      var bar = element("span", { "class": "bar", "aria-hidden": "true",
                                  style: "width:" + Math.round(80 * p.approved / most) + "px" });
      return element("tr", { "data-prefecture": p.prefecture }, [
        element("td", { "data-field": "name" }, [p.prefecture]),
        element("td", { "data-field": "approved", "data-value": String(p.approved) }, [bar, String(p.approved)]),
        cell("funded_projects", p.funded_projects)
      ].concat(figureCells(p)));
    }));
  }

  function renderSupervision(report) {
    var body = byId("supervision-table").tBodies[0];
    body.replaceChildren.apply(body, report.prefectures.map(function (p) {
      var money = p.measures.local_money;
      return element("tr", { "data-supervised": p.prefecture }, [
        element("td", { "data-field": "name" }, [p.prefecture]), cell("rank", p.rank), cell("score", p.score.toFixed(1)),
        cell("projects", p.projects), cell("local_money", money === null ? "—" : percent(money, 1)),
        cell("duties_missed", p.duties_missed.map(function (d) { return DUTY_NAMES[d] || d; }).join("、") || "—")
      ]);
    }));
    byId("supervision-status").textContent = report.year + "年度；评分规则：" + Object.keys(report.weights).map(
      function (m) { return m + " " + report.weights[m]; }).join("，") + (report.weights_set_by_province ? "（省级设定）" : "（默认）");
  }

  function loadSupervision(token) {
    var year = byId("supervision-year").value;
    fetch(SUPERVISION + "?year=" + encodeURIComponent(year),
          { headers: { Authorization: "Bearer " + token, Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) { return response.json().then(renderSupervision); }
        return problemText(response).then(function (text) { byId("supervision-status").textContent = "加载失败：" + text; });
      })
      .catch(function (error) { byId("supervision-status").textContent = "无法连接服务器：" + error.message; });
  }

  function render(report) {
    byId("scope").textContent = "（" + (report.scope === "province" ? "全省" : report.scope) + "）";
    renderSummary(report);
    renderCategoryChart(report.categories);
    renderMoney(report);
    renderCategoryTable(report);
    renderPrefectureTable(report);
    byId("token-form").hidden = true;
    byId("report").hidden = false;
    setState("ready", "数据生成于 " + beijingTime(report.generated_at) + "（北京时间）；金额单位：元");
  }

  function problemText(response) {
    return response.json().then(function (problem) {
      return response.status + " " + (problem.title || "") + "：" + (problem.detail || "");
    }, function () { return response.status + " " + response.statusText; });
  }

  function load(token) {
    setState("loading", "正在加载…");
    fetch(REPORT, { headers: { Authorization: "Bearer " + token, Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) { loadSupervision(token); return response.json().then(render); }
        return problemText(response).then(function (text) {
          if (response.status === 401 || response.status === 403) {
            askForToken("此令牌不能查看建设进度（" + text + "），请使用省级或市州用户的令牌。");
          } else {
            setState("error", "加载失败：" + text);
          }
        });
      })
      .catch(function (error) { setState("error", "无法连接服务器：" + error.message); });
  }

  function exportWorkbook() {
    var token = sessionStorage.getItem(TOKEN_KEY);
    fetch(REPORT + "?format=xlsx", { headers: { Authorization: "Bearer " + token, Accept: XLSX } })
      .then(function (response) {
        if (!response.ok) { return problemText(response).then(function (text) { setState("error", "导出失败：" + text); }); }
        return response.blob().then(function (blob) {
          var link = element("a", { href: URL.createObjectURL(blob), download: "楚怡行动建设进度.xlsx" });
          document.body.appendChild(link);
          link.click();
          link.remove();
        });
      });
  }

  byId("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, byId("token-input").value.trim());
    byId("token-input").value = "";
    load(sessionStorage.getItem(TOKEN_KEY));
  });
  byId("export-xlsx").addEventListener("click", exportWorkbook);
  byId("supervision-year").value = String(Math.min(Math.max(new Date().getFullYear(), 2022), 2025));
  byId("supervision-year").addEventListener("change", function () { loadSupervision(sessionStorage.getItem(TOKEN_KEY)); });
  window.addEventListener("hashchange", function () {
    var token = takeToken();
    if (token) { load(token); }
  });

  var token = takeToken();
  if (token) {
    load(token);
  } else {
    askForToken("请使用省级（或市州）用户的访问令牌查看：在地址后加 #token=<令牌>，或在下方输入。");
  }
}());
